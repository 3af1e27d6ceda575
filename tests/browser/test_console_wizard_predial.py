"""The wizard's voicemail policy and pre-dial check in Chromium against the live stack (issue 23).

Step 4 takes a voicemail message with a variable, left on the last attempt, and a pre-dial
check; a refused check URL is named beside its field, in the API's words. The draft created
holds exactly what was entered (through the API), step 5 and the campaign page say it in
words; editing the draft keeps the check, and emptying its URL removes it ("none")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Account, Stack, _account
from tests.browser.test_console import (
    ALL_DAYS,
    assert_accessible,
    next_step,
    page,
    shot,
    sign_in,
    step_heading,
    wait_status,
)

__all__ = ["page"]  # the console suite's page fixture (viewport, script errors fail the test)

CID = "predial-check"
NAME = "Pre-dial check"
MESSAGE = "Hi {{customer_name}}, we will call again tomorrow."
CHECK_URL = "http://127.0.0.1:8765/campaignflow/predial"  # loopback: http allowed
VOICEMAIL = {"action": "leave_message", "message": MESSAGE, "on": "last"}
# A draft's body leaves defaults out, as campaign.yaml writes them ("on": "last" is one).
DRAFT_VOICEMAIL = {"action": "leave_message", "message": MESSAGE}
PREDIAL = {"url": CHECK_URL, "timeout_ms": 1500, "on_error": "dial"}
VOICEMAIL_TEXT = f"leave a message on the last attempt: “{MESSAGE}”"
PREDIAL_TEXT = "127.0.0.1:8765 (timeout 1500 ms; on error: dial)"


def stored(acct: Account) -> dict[str, Any]:
    """The draft's create body as the API gives it back for an edit."""
    r = acct.call("GET", f"/campaigns/{CID}/draft")
    assert r.status_code == 200, r.text
    definition: dict[str, Any] = r.json()["definition"]
    return definition


def steps_one_to_three(page: Page) -> None:
    step_heading(page, 1)
    page.get_by_label("AI agent that handles the calls").select_option("renewals-bot")
    page.get_by_label("Source number the calls come from").select_option("main-line")
    next_step(page)
    step_heading(page, 2)
    page.get_by_label("Row 1 phone_number", exact=True).fill("+12125550601")
    page.get_by_label("New variable column").fill("customer_name")
    page.get_by_role("button", name="Add column").click()
    page.get_by_label("Row 1 customer_name", exact=True).fill("Ann")
    next_step(page)
    step_heading(page, 3)
    next_step(page)


def fill_rules(page: Page) -> None:
    page.get_by_label("Campaign name").fill(NAME)
    page.get_by_label("Campaign ID").fill(CID)
    page.get_by_label("Time zone").fill("UTC")
    for day in ALL_DAYS:
        page.get_by_label(day).check()
    page.get_by_label("Window 1 start").fill("00:00")
    page.get_by_label("Window 1 end").fill("24:00")
    page.get_by_label("Concurrent calls").fill("1")
    page.get_by_label("Max retries").fill("1")
    page.get_by_label("Retry delay (minutes)").fill("1")
    page.get_by_label("Voicemail", exact=True).select_option("leave_message")
    page.get_by_label("Message", exact=True).fill(MESSAGE)
    page.get_by_label("Leave it on").select_option("last")


def test_voicemail_and_predial_entered_in_the_wizard_are_what_the_draft_holds(
    page: Page, stack: Stack, screenshots: Path
) -> None:
    acct = _account(stack, "predialco", "Predial Co", active=True)
    sign_in(page, stack, acct)
    page.get_by_role("link", name="Create campaign").first.click()
    steps_one_to_three(page)

    step_heading(page, 4)
    fill_rules(page)
    url = page.get_by_label("Check URL")
    expect(page.get_by_label("Check timeout (ms)")).to_have_value("2000")
    expect(page.get_by_label("When the check fails")).to_have_value("skip")
    url.fill("ftp://x")
    page.get_by_label("Check timeout (ms)").fill("1500")
    page.get_by_label("When the check fails").select_option("dial")
    next_step(page)
    # the API's refusal lands beside the URL field, which is marked invalid
    error = page.locator("[data-error-for='predial.url']")
    expect(error).to_contain_text("https")
    expect(url).to_have_attribute("aria-invalid", "true")
    step_heading(page, 4)  # not past the rules
    assert_accessible(page, "wizard step 4 with the pre-dial check refused")
    shot(page, screenshots, "23-wizard-predial-error", narrow=True)
    url.fill(CHECK_URL)
    expect(error).to_have_text("")
    assert_accessible(page, "wizard step 4 with voicemail and the pre-dial check")
    next_step(page)

    step_heading(page, 5)
    rules = page.get_by_test_id("summary-rules")
    expect(rules.locator("dd[data-rule='voicemail']")).to_have_text(VOICEMAIL_TEXT)
    expect(rules.locator("dd[data-rule='predial']")).to_have_text(PREDIAL_TEXT)
    page.get_by_test_id("create").click()

    expect(page.locator("h1")).to_have_text(NAME)
    wait_status(page, "draft")
    shown = page.get_by_test_id("campaign-rules")
    expect(shown.locator("dd[data-rule='voicemail']")).to_have_text(VOICEMAIL_TEXT)
    expect(shown.locator("dd[data-rule='predial']")).to_have_text(PREDIAL_TEXT)
    definition = stored(acct)
    assert definition["rules"]["voicemail"] == DRAFT_VOICEMAIL
    assert definition["predial"] == PREDIAL
    r = acct.call("GET", f"/campaigns/{CID}")
    assert r.status_code == 200, r.text
    assert r.json()["predial"] == PREDIAL
    assert r.json()["rules"]["voicemail"] == VOICEMAIL

    # An edit of the draft starts from what it holds and keeps the check when saved.
    page.get_by_role("link", name=f"Edit {NAME}").click()
    step_heading(page, 1)
    page.goto(f"{stack.base_url}/#/edit/{CID}/4")
    step_heading(page, 4)
    expect(page.get_by_label("Check URL")).to_have_value(CHECK_URL)
    expect(page.get_by_label("Check timeout (ms)")).to_have_value("1500")
    expect(page.get_by_label("When the check fails")).to_have_value("dial")
    expect(page.get_by_label("Message", exact=True)).to_have_value(MESSAGE)
    page.get_by_label("Concurrent calls").fill("2")
    next_step(page)
    step_heading(page, 5)
    expect(page.get_by_test_id("summary-rules").locator("dd[data-rule='predial']")).to_have_text(
        PREDIAL_TEXT
    )
    page.get_by_test_id("create").click()
    expect(page.locator("h1")).to_have_text(NAME)
    wait_status(page, "draft")
    definition = stored(acct)
    assert definition["rules"]["concurrent_calls"] == 2
    assert definition["rules"]["voicemail"] == DRAFT_VOICEMAIL
    assert definition["predial"] == PREDIAL

    # Emptying the URL removes the check: the pages then say "none".
    page.get_by_role("link", name=f"Edit {NAME}").click()
    step_heading(page, 1)
    page.goto(f"{stack.base_url}/#/edit/{CID}/4")
    step_heading(page, 4)
    page.get_by_label("Check URL").fill("")
    next_step(page)
    step_heading(page, 5)
    expect(page.get_by_test_id("summary-rules").locator("dd[data-rule='predial']")).to_have_text(
        "none"
    )
    page.get_by_test_id("create").click()
    expect(page.locator("h1")).to_have_text(NAME)
    wait_status(page, "draft")
    expect(shown.locator("dd[data-rule='predial']")).to_have_text("none")
    assert "predial" not in stored(acct) or stored(acct)["predial"] is None
    assert stored(acct)["rules"]["voicemail"] == DRAFT_VOICEMAIL
