"""The wizard on a draft in Chromium against the live stack: a draft created through the API,
opened with "Edit" from its page (its values in every step), changed (a contact removed, one
added, the concurrency and the name) and saved, then started: the engine calls the new list
only, under the new rules; axe-core on the edit steps; screenshots at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import Account, Stack, _account
from tests.browser.test_console import (
    assert_accessible,
    next_step,
    page,
    shot,
    sign_in,
    step_heading,
    wait_status,
)

__all__ = ["page"]  # the console suite's page fixture (viewport, script errors fail the test)

RULES = {
    "max_retries": 0,
    "calling_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "calling_window": {"start": "00:00", "end": "24:00"},
    "timezone": "UTC",
    "concurrent_calls": 1,
}


def draft(account: Account, cid: str) -> None:
    body = {
        "definition": {
            "campaign_id": cid,
            "name": "Winter check-in",
            "agent_id": "renewals-bot",
            "source_number_id": "main-line",
            "variable_mapping": {"name": "customer_name"},
            "rules": RULES,
        },
        "contacts": [
            {"contact_id": f"c{n}", "phone_number": f"+1212555{n:04d}", "name": f"N{n}"}
            for n in (301, 302, 303)
        ],
    }
    r = account.call("POST", "/campaigns", body)
    assert r.status_code == 201, r.text


def test_a_draft_edited_in_the_wizard_then_started(
    page: Page, stack: Stack, screenshots: Path
) -> None:
    acct = _account(stack, "editco", "Edit Co", active=True)
    cid = "winter-check-in"
    draft(acct, cid)
    sign_in(page, stack, acct)
    page.goto(f"{stack.base_url}/#/campaigns/{cid}")
    wait_status(page, "draft")
    page.get_by_role("link", name="Edit Winter check-in").click()

    step_heading(page, 1)
    expect(page.locator("h1")).to_contain_text(f"Edit draft {cid}")
    expect(page.get_by_label("AI agent that handles the calls")).to_have_value("renewals-bot")
    expect(page.get_by_label("Source number the calls come from")).to_have_value("main-line")
    assert_accessible(page, "edit step 1")
    next_step(page)

    step_heading(page, 2)
    expect(page.get_by_label("Row 2 phone_number", exact=True)).to_have_value("+12125550302")
    expect(page.get_by_label("Row 3 name", exact=True)).to_have_value("N303")
    page.get_by_role("button", name="Remove row 2").click()
    page.get_by_test_id("add-row").click()
    page.get_by_label("Row 3 phone_number", exact=True).fill("+12125550304")
    page.get_by_label("Row 3 contact_id", exact=True).fill("c304")
    page.get_by_label("Row 3 name", exact=True).fill("N304")
    page.get_by_test_id("check-list").click()
    expect(page.get_by_test_id("list-check")).to_have_text("3 accepted, 0 rejected.")
    shot(page, screenshots, "10-edit-draft-list", narrow=True)
    next_step(page)

    step_heading(page, 3)
    expect(page.get_by_label("name", exact=True)).to_have_value("customer_name")
    next_step(page)

    step_heading(page, 4)
    expect(page.get_by_label("Campaign ID")).to_have_value(cid)
    expect(page.get_by_label("Time zone")).to_have_value("UTC")
    expect(page.get_by_label("Window 1 end")).to_have_value("24:00")
    page.get_by_label("Campaign name").fill("Winter check-in v2")
    page.get_by_label("Concurrent calls").fill("2")
    assert_accessible(page, "edit step 4")
    next_step(page)

    step_heading(page, 5)
    expect(page.get_by_test_id("summary-contacts")).to_have_text("3 accepted, 0 rejected.")
    save = page.get_by_test_id("create")
    expect(save).to_have_text("Save changes")
    shot(page, screenshots, "11-edit-draft-summary", narrow=True)
    save.click()

    expect(page.locator("h1")).to_have_text("Winter check-in v2")
    wait_status(page, "draft")
    body = acct.call("GET", f"/campaigns/{cid}/draft").json()
    assert [c["contact_id"] for c in body["contacts"]] == ["c301", "c303", "c304"]
    got = acct.call("GET", f"/campaigns/{cid}").json()
    assert got["rules"]["concurrent_calls"] == 2
    assert got["counters"]["contacts_total"] == 3
    page.get_by_role("button", name="Start Winter check-in v2").click()
    wait_status(page, "completed")
    expect(page.get_by_test_id("done-total")).to_have_text("3 / 3 contacts done")
    contacts = acct.call("GET", f"/campaigns/{cid}/contacts?limit=10").json()["items"]
    assert sorted(c["contact_id"] for c in contacts) == ["c301", "c303", "c304"]
    # Once started, the draft is no longer edited: the API says why.
    r = acct.call("PUT", f"/campaigns/{cid}", body)
    assert r.status_code == 409, r.text
