"""The wizard in Chromium against the live stack.

A draft created through the API, opened with "Edit" from its page (its values in every step),
changed (a contact removed, one added, the concurrency and the name) and saved, then started:
the engine calls the new list only, under the new rules. Step 5's launch preview equals
`campaign create`'s for the same input and instant, each rule explained; the forecast says
what it assumed and takes another answer rate. axe-core on the pages; screenshots at 1280 and
390 px."""

from __future__ import annotations

import re
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
    shot(page, screenshots, "20-edit-draft-list", narrow=True)
    next_step(page)

    step_heading(page, 3)
    expect(page.get_by_label("name", exact=True)).to_have_value("customer_name")
    next_step(page)

    step_heading(page, 4)
    expect(page.get_by_label("Campaign ID")).to_have_value(cid)
    expect(page.get_by_label("Time zone")).to_have_value("UTC")
    expect(page.get_by_label("Window 1 end")).to_have_value("24:00")
    expect(page.get_by_label("Priority (1-10)")).to_have_value("5")
    page.get_by_label("Campaign name").fill("Winter check-in v2")
    page.get_by_label("Concurrent calls").fill("2")
    # SPEC 8 and 9 in step 4: priority, end date, callbacks, a limit across the account.
    page.get_by_label("Priority (1-10)").fill("7")
    page.get_by_label("Ends at (optional)").fill("2030-01-01T12:00")
    page.get_by_label("Callbacks per contact").fill("2")
    page.get_by_text("Compliance rules (optional)").click()
    page.get_by_role("button", name="Add attempt limit").click()
    page.get_by_label("Limit 1 counts calls of").select_option("account")
    assert_accessible(page, "edit step 4")
    next_step(page)

    step_heading(page, 5)
    expect(page.get_by_test_id("summary-contacts")).to_have_text("3 accepted, 0 rejected.")
    save = page.get_by_test_id("create")
    expect(save).to_have_text("Save changes")
    shot(page, screenshots, "21-edit-draft-summary", narrow=True)
    save.click()

    expect(page.locator("h1")).to_have_text("Winter check-in v2")
    wait_status(page, "draft")
    body = acct.call("GET", f"/campaigns/{cid}/draft").json()
    assert [c["contact_id"] for c in body["contacts"]] == ["c301", "c303", "c304"]
    got = acct.call("GET", f"/campaigns/{cid}").json()
    assert got["rules"]["concurrent_calls"] == 2
    assert (got["rules"]["priority"], got["rules"]["max_callbacks"]) == (7, 2)
    assert got["rules"]["attempt_limits"][0]["across"] == "account"
    assert body["definition"]["rules"]["ends_at"].startswith("20")
    shown = page.get_by_test_id("campaign-rules")
    expect(shown.locator("[data-rule='priority']")).to_contain_text("7 of 10")
    expect(shown.locator("[data-rule='attempt_limits']")).to_contain_text("across the account")
    expect(shown.locator("[data-rule='ends_at']")).to_contain_text("2030")
    expect(shown.locator("[data-rule='max_callbacks']")).to_have_text("2")
    assert got["counters"]["contacts_total"] == 3
    page.get_by_role("button", name="Start Winter check-in v2").click()
    wait_status(page, "completed")
    expect(page.get_by_test_id("done-total")).to_have_text("3 / 3 contacts done")
    contacts = acct.call("GET", f"/campaigns/{cid}/contacts?limit=10").json()["items"]
    assert sorted(c["contact_id"] for c in contacts) == ["c301", "c303", "c304"]
    # Once started, the draft is no longer edited: the API says why.
    r = acct.call("PUT", f"/campaigns/{cid}", body)
    assert r.status_code == 409, r.text


PREVIEW_CSV = """\
phone_number,name
+12125550401,Ann
+13055550402,Bob
+33612345678,Chloe
+33612345679,Denis
+442071234567,Eve
"""
PROMPT = "Hi {{customer_name}}, a word about your {{plan}} plan."
PREVIEW_YAML = """\
campaign_id: launch-preview
account_id: previewco
name: Launch preview
agent: {id: renewals-bot, prompt: "PROMPT"}
source_number: "+15550100000"
variable_mapping: {name: customer_name}
rules:
  timezone: UTC
  concurrent_calls: 2
  calling_days: [mon, tue, wed, thu, fri, sat, sun]
  calling_window: {start: "00:00", end: "24:00"}
  compliance: [us_tcpa, fr_2022_1313]
""".replace("PROMPT", PROMPT)


def cli_preview(stack: Stack, tmp_path: Path, start: str) -> dict[str, int]:
    """`campaign create --dry-run`'s launch preview table, as counts by rule."""
    (tmp_path / "c.yaml").write_text(PREVIEW_YAML)
    (tmp_path / "c.csv").write_text(PREVIEW_CSV)
    out = stack.cli(
        "campaign",
        "create",
        str(tmp_path / "c.yaml"),
        "--contacts",
        str(tmp_path / "c.csv"),
        "--dry-run",
        "--start",
        start,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout.split("Launch preview for a start at")[1]
    counts: dict[str, int] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 3 and cells[1] and cells[2].isdigit():
            counts[cells[1]] = int(cells[2])
    return counts


def test_step_five_preview_equals_campaign_create_and_the_forecast_says_its_assumptions(
    page: Page, stack: Stack, screenshots: Path, tmp_path: Path
) -> None:
    acct = _account(stack, "previewco", "Preview Co", active=True)
    rated = {
        "e164": "+15550100000",
        "label": "Main line",
        "rate_per_minute": "0.02",
        "currency": "USD",
    }
    assert acct.call("PUT", "/numbers/main-line", rated).status_code == 200
    sign_in(page, stack, acct)
    page.get_by_role("link", name="Create campaign").first.click()
    step_heading(page, 1)
    page.get_by_label("AI agent that handles the calls").select_option("renewals-bot")
    page.get_by_label("Source number the calls come from").select_option("main-line")
    next_step(page)
    step_heading(page, 2)
    csv = tmp_path / "list.csv"
    csv.write_text(PREVIEW_CSV)
    page.get_by_label(re.compile("^CSV file")).set_input_files(str(csv))
    expect(page.get_by_test_id("list-check")).to_have_text("5 accepted, 0 rejected.")
    next_step(page)
    step_heading(page, 3)
    page.get_by_label("name", exact=True).select_option("customer_name")
    next_step(page)
    step_heading(page, 4)
    page.get_by_label("Campaign name").fill("Launch preview")
    page.get_by_label("Time zone").fill("UTC")
    for day in ("Saturday", "Sunday"):
        page.get_by_label(day).check()
    page.get_by_label("Window 1 start").fill("00:00")
    page.get_by_label("Window 1 end").fill("24:00")
    page.get_by_label("Concurrent calls").fill("2")
    page.get_by_text("Compliance rules (optional)").click()
    page.get_by_label("US TCPA").check()
    page.get_by_label("France decree").check()
    next_step(page)

    step_heading(page, 5)
    preview = page.get_by_test_id("preview")
    expect(preview).to_be_visible()
    at = page.get_by_test_id("preview-at").get_attribute("datetime")
    assert at
    shown = {
        str(row.get_attribute("data-reason")): int(row.locator("[data-col=count]").inner_text())
        for row in preview.locator("tbody tr").all()
    }
    assert shown == cli_preview(stack, tmp_path, at)
    assert sum(shown.values()) == 5
    for reason in shown:  # each rule is explained in words
        cell = preview.locator(f"tr[data-reason='{reason}'] td").nth(1)
        assert len(cell.inner_text()) > 10
    # Unset rules read "none"; the forecast's contacts have no "rejected" line.
    rules = page.get_by_test_id("summary-rules")
    expect(rules.locator("[data-rule='blackout_dates']")).to_have_text("none")
    expect(rules.locator("[data-rule='attempt_limits']")).to_have_text("none")
    expect(page.get_by_test_id("forecast-contacts")).not_to_contain_text("rejected")
    assumptions = page.get_by_test_id("forecast-assumptions")
    expect(assumptions).to_contain_text("answered 30%")
    expect(assumptions).to_contain_text("each call 30 s")
    expect(assumptions).to_contain_text("no retries")
    # 5 contacts, 30% answered, no retries: its connected calls, each billed a whole minute
    # (the account's default increment) at main-line's rate, priced as the sink prices calls.
    cost = page.get_by_test_id("forecast-cost")
    expect(cost).to_contain_text("billed in 60 s steps")
    expect(cost).to_contain_text(re.compile(r"about [0-9.]+ USD at 0\.02 USD a minute"))
    assert_accessible(page, "wizard step 5 with the launch preview")
    shot(page, screenshots, "05-wizard-launch-preview", narrow=True)
    page.get_by_label("Answer rate for the forecast (%)").fill("80")
    page.get_by_test_id("reforecast").click()
    expect(assumptions).to_contain_text("answered 80%")
