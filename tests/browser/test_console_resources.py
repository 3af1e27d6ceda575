"""The console's agents and numbers pages in Chromium against the live stack (issue 24,
item 3): list, add, edit, and an agent's prompt change and removal refused while a
scheduled campaign uses it (the reason names the campaign), allowed once it is cancelled;
a number's rate and currency (a bad rate shown next to its field); axe-core on each page;
screenshots at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import Account, Stack, _account
from tests.browser.test_console import assert_accessible, draft_via_api, page, shot, sign_in
from tests.helpers import wait_until

__all__ = ["page"]  # the console suite's page fixture (viewport, script errors fail the test)


def _status(account: Account, cid: str) -> str:
    r = account.call("GET", f"/campaigns/{cid}")
    assert r.status_code == 200, r.text
    return str(r.json()["status"])


def test_an_agent_in_use_is_neither_removed_nor_reprompted(
    page: Page, stack: Stack, screenshots: Path
) -> None:
    acct = _account(stack, "agentspage", "Agents Page Co", active=True)
    draft_via_api(acct, "autumn-calls", "Autumn calls")
    r = acct.call("POST", "/campaigns/autumn-calls/schedule", {"start_at": "2030-01-01T14:00:00Z"})
    assert r.status_code == 200, r.text
    wait_until(lambda: _status(acct, "autumn-calls") == "scheduled", "the campaign scheduled")

    sign_in(page, stack, acct)
    page.get_by_role("link", name="Agents", exact=True).click()
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
    row = page.locator("#agents-table tr[data-id='renewals-bot']")
    expect(row).to_contain_text("customer_name, plan")
    assert_accessible(page, "agents")

    # The prompt is what the campaign copied: a change is refused, naming the campaign.
    row.get_by_role("button", name="Edit renewals-bot").click()
    page.locator("#agent-edit-prompt").fill("Hello {{customer_name}}.")
    page.get_by_role("button", name="Save").click()
    refusal = page.locator("#agent-editor .form-msg")
    expect(refusal).to_contain_text("campaign 'autumn-calls' (scheduled)")
    expect(refusal).to_contain_text("prompt cannot change")
    assert "a word about your" in acct.call("GET", "/agents/renewals-bot").json()["prompt"]
    # The name is not copied: it changes.
    page.get_by_label("Name", exact=True).nth(0).fill("Renewals (autumn)")
    page.locator("#agent-edit-prompt").fill(
        "Hi {{customer_name}}, a word about your {{plan}} plan."
    )
    page.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("Renewals (autumn)")
    assert acct.call("GET", "/agents/renewals-bot").json()["name"] == "Renewals (autumn)"

    row.get_by_role("button", name="Remove renewals-bot").click()
    row.get_by_role("button", name="Yes, remove").click()
    msg = page.locator("#agents-msg")
    expect(msg).to_contain_text("Not removed: agent 'renewals-bot' is used by campaign")
    expect(msg).to_contain_text("'autumn-calls' (scheduled)")
    assert acct.call("GET", "/agents/renewals-bot").status_code == 200
    shot(page, screenshots, "13-agents-in-use", narrow=True)

    # Added, then removed: nothing uses it.
    page.get_by_label("Id", exact=True).fill("spare-bot")
    page.get_by_label("Name", exact=True).last.fill("Spare")
    page.locator("#agent-add-prompt").fill("Hello {{first_name}}")
    page.get_by_role("button", name="Add agent").click()
    spare = page.locator("#agents-table tr[data-id='spare-bot']")
    expect(spare).to_contain_text("first_name")
    spare.get_by_role("button", name="Remove spare-bot").click()
    spare.get_by_role("button", name="Yes, remove").click()
    expect(spare).to_have_count(0)
    assert acct.call("GET", "/agents/spare-bot").status_code == 404

    # Once the campaign is cancelled the agent is free.
    r = acct.call("POST", "/campaigns/autumn-calls/cancel")
    assert r.status_code == 200, r.text
    wait_until(lambda: _status(acct, "autumn-calls") == "cancelled", "the campaign cancelled")
    row.get_by_role("button", name="Remove renewals-bot").click()
    row.get_by_role("button", name="Yes, remove").click()
    expect(row).to_have_count(0)
    assert acct.call("GET", "/agents/renewals-bot").status_code == 404


def test_numbers_with_a_rate_and_a_bad_rate_named(
    page: Page, stack: Stack, screenshots: Path
) -> None:
    acct = _account(stack, "numberspage", "Numbers Page Co", active=True)
    sign_in(page, stack, acct)
    page.get_by_role("link", name="Numbers", exact=True).click()
    expect(page.get_by_role("heading", name="Numbers", exact=True)).to_be_visible()
    expect(page.locator("#numbers-table tbody tr")).to_have_count(3)

    page.get_by_label("Id", exact=True).fill("paris-line")
    page.locator("#number-add-e164").fill("+33142685300")
    page.locator("#number-add-label").fill("Paris")
    page.locator("#number-add-rate_per_minute").fill("-0.5")
    page.locator("#number-add-currency").fill("eur")
    page.get_by_role("button", name="Add number").click()
    expect(page.locator("[data-error-for='rate_per_minute']")).to_contain_text("greater than")
    assert acct.call("GET", "/numbers/paris-line").status_code == 404

    page.locator("#number-add-rate_per_minute").fill("0.0135")
    page.get_by_role("button", name="Add number").click()
    paris = page.locator("#numbers-table tr[data-id='paris-line']")
    expect(paris).to_contain_text("0.0135 EUR/min")
    body = acct.call("GET", "/numbers/paris-line").json()
    assert (body["rate_per_minute"], body["currency"]) == ("0.0135", "EUR")
    assert_accessible(page, "numbers")

    paris.get_by_role("button", name="Edit paris-line").click()
    page.locator("#number-edit-label").fill("Paris office")
    page.locator("#number-edit-caller_id").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(paris).to_contain_text("Paris office")
    body = acct.call("GET", "/numbers/paris-line").json()
    assert (body["label"], body["caller_id"], body["rate_per_minute"]) == (
        "Paris office",
        False,
        "0.0135",
    )
    shot(page, screenshots, "14-numbers", narrow=True)
