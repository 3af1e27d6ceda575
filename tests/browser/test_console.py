"""The web console in Chromium against the live stack: both ways through the wizard, a
campaign watched to completion, pause/resume, cancel, a lapsed subscription, axe-core on
every page, and the numbers on the page against ClickHouse's."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AXE, Account, Stack
from tests.helpers import wait_until

CSV = """\
phone_number,name,plan,phone_number_2,name_2
+12125550101,Ann,gold,+12125550191,Ann's office
+12125550102,Bob,silver,,
not-a-number,Fay,pro,,
+12125550104,Dan,basic,+12125550194,
+12125550105,Eve,pro,,
+12125550106,Gus,gold,,
"""
ALL_DAYS = ["Saturday", "Sunday"]  # Monday-Friday are checked by default
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}


@pytest.fixture
def page(page: Page) -> Page:
    page.set_viewport_size(WIDE)
    page.set_default_timeout(90_000)  # a bound for a stuck page, never reached when fine
    # axe-core in every document before its own scripts: the console's Content-Security-
    # Policy refuses an inline <script> (add_script_tag), not the browser's init scripts.
    page.add_init_script(path=str(AXE))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # What the policy blocks is reported on the console: the console must keep to it.
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield page  # type: ignore[misc]
    assert not errors, f"script errors on the page: {errors}"


def shot(page: Page, folder: Path, name: str, narrow: bool = False) -> None:
    """Full-page screenshots; a shown-once key or secret (`data-secret`) is masked: the
    images are committed (docs/screenshots), a key in them would be a key in the repo."""
    secrets = [page.locator("[data-secret]")]
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True, mask=secrets)
    if narrow:
        page.set_viewport_size(NARROW)
        page.screenshot(path=str(folder / f"{name}-390.png"), full_page=True, mask=secrets)
        page.set_viewport_size(WIDE)


def assert_accessible(page: Page, name: str) -> None:
    """axe-core (from npm) on the page as it is: no critical violation."""
    assert page.evaluate("() => typeof window.axe !== 'undefined'"), "axe-core is not loaded"
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    critical = [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes: {v['nodes'][0]['target']})"
        for v in result["violations"]
        if v["impact"] == "critical"
    ]
    assert not critical, f"{name}: critical accessibility violations: {critical}"


def sign_in(page: Page, stack: Stack, account: Account) -> None:
    page.goto(f"{stack.base_url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill(account.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()


def step_heading(page: Page, n: int) -> None:
    expect(page.locator("h1")).to_contain_text(f"step {n} of 5")


def next_step(page: Page) -> None:
    page.get_by_test_id("next").click()


def fill_rules(
    page: Page, name: str, *, retries: int, delay_min: str, concurrency: int, callers: int
) -> None:
    page.get_by_label("Campaign name").fill(name)
    page.get_by_label("Max retries").fill(str(retries))
    page.get_by_label("Retry delay (minutes)").fill(delay_min)
    page.get_by_label("Time zone").fill("Europe/Paris")
    for day in ALL_DAYS:
        page.get_by_label(day).check()
    page.get_by_label("Window 1 start").fill("00:00")
    page.get_by_label("Window 1 end").fill("24:00")
    page.get_by_label("Concurrent calls").fill(str(concurrency))
    for i in range(callers):
        page.get_by_role("button", name="Add caller ID").click()
        page.get_by_label(f"Caller ID number {i + 1}").select_option(index=i + 1)


def wait_status(page: Page, status: str) -> None:
    """Until the campaign page shows `status`; fails only when the page stops changing."""
    shown = page.get_by_test_id("status").locator(f"[data-status='{status}']")
    wait_until(
        shown.is_visible,
        f"the page to show the status {status}",
        progress=lambda: page.locator("body").inner_text(),
        poll_seconds=0.2,
    )


def test_csv_wizard_then_watch_the_campaign_complete(
    page: Page, stack: Stack, acme: Account, screenshots: Path, tmp_path: Path
) -> None:
    page.goto(f"{stack.base_url}/")
    assert_accessible(page, "sign-in")
    shot(page, screenshots, "00-sign-in")
    sign_in(page, stack, acme)
    assert_accessible(page, "campaigns (empty)")

    page.get_by_role("link", name="Create campaign").first.click()
    step_heading(page, 1)
    page.get_by_label("AI agent that handles the calls").select_option("renewals-bot")
    page.get_by_label("Source number the calls come from").select_option("main-line")
    expect(page.locator(".prompt-preview")).to_contain_text("customer_name, plan")
    assert_accessible(page, "wizard step 1")
    shot(page, screenshots, "01-wizard-agent-and-number", narrow=True)
    next_step(page)

    step_heading(page, 2)
    csv = tmp_path / "spring.csv"
    csv.write_text(CSV)
    page.get_by_label(re.compile("^CSV file")).set_input_files(str(csv))
    # The table is filled from the file, alternates included, and the bad row is named.
    expect(page.get_by_label("Row 1 phone_number_2", exact=True)).to_have_value("+12125550191")
    expect(page.get_by_label("Row 1 name_2", exact=True)).to_have_value("Ann's office")
    expect(page.get_by_test_id("list-check")).to_have_text("5 accepted, 1 rejected.")
    rejects = page.get_by_test_id("rejects")
    expect(rejects.locator("tbody tr")).to_have_count(1)
    expect(rejects.locator("tbody tr td").nth(0)).to_have_text("3")
    expect(rejects.locator("tbody tr td").nth(1)).to_have_text("phone_number")
    expect(rejects.locator("tbody tr td").nth(2)).to_contain_text("not a valid phone number")
    expect(page.get_by_label("Row 3 phone_number", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    assert_accessible(page, "wizard step 2 (CSV)")
    shot(page, screenshots, "02-wizard-number-list-csv", narrow=True)
    next_step(page)

    step_heading(page, 3)
    # name is not an agent variable: map it; plan maps itself; nothing is left unfed.
    expect(page.get_by_test_id("unfed")).to_contain_text("customer_name")
    page.get_by_label("name", exact=True).select_option("customer_name")
    expect(page.get_by_test_id("unfed")).to_contain_text("Every agent variable is fed")
    assert_accessible(page, "wizard step 3")
    shot(page, screenshots, "03-wizard-variable-mapping")
    next_step(page)

    step_heading(page, 4)
    fill_rules(page, "Spring renewals", retries=2, delay_min="", concurrency=2, callers=2)
    # A missing retry delay is explained next to its field, in the API's words.
    next_step(page)
    delay_error = page.locator("[data-error-for='rules.retry_delay_minutes']")
    expect(delay_error).to_have_text("required when max_retries > 0")
    expect(page.get_by_label("Retry delay (minutes)")).to_have_attribute("aria-invalid", "true")
    shot(page, screenshots, "04-wizard-rules-error")
    page.get_by_label("Retry delay (minutes)").fill("0.05")
    assert_accessible(page, "wizard step 4")
    shot(page, screenshots, "04-wizard-advanced-rules", narrow=True)
    next_step(page)

    step_heading(page, 5)
    expect(page.get_by_test_id("summary-contacts")).to_have_text("5 accepted, 1 rejected.")
    expect(page.get_by_test_id("summary")).to_contain_text("customer_name")
    expect(page.get_by_test_id("forecast")).to_contain_text("would finish")
    assert_accessible(page, "wizard step 5")
    shot(page, screenshots, "05-wizard-summary", narrow=True)
    page.get_by_test_id("create").click()

    expect(page.locator("h1")).to_have_text("Spring renewals")
    wait_status(page, "draft")
    page.get_by_role("button", name="Start Spring renewals").click()
    wait_status(page, "running")
    expect(page.get_by_test_id("live-line")).to_contain_text("Running")
    shot(page, screenshots, "06-campaign-running", narrow=True)
    wait_status(page, "completed")
    expect(page.get_by_test_id("done-total")).to_have_text("5 / 5 contacts done")
    cid = "spring-renewals"
    clickhouse_agrees(page, stack, cid)
    assert_accessible(page, "campaign page")
    expect(page.get_by_test_id("outcomes-chart")).to_be_visible()
    shot(page, screenshots, "07-campaign-completed", narrow=True)

    # Contacts table: filter by status, each row with its attempts.
    page.get_by_label("Status", exact=True).select_option("reached")
    rows = page.get_by_test_id("contacts-table").locator("tbody tr")
    expect(rows.first).to_have_attribute("data-status", "reached")
    # The CSV export carries one row per contact.
    with page.expect_download() as dl:
        page.get_by_test_id("export").click()
    exported = Path(dl.value.path()).read_text().strip().splitlines()
    assert len(exported) == 1 + 5


def clickhouse_agrees(page: Page, stack: Stack, cid: str) -> None:
    """Once ClickHouse holds the campaign's calls, the page shows the same numbers."""
    where = f"campaign_id = '{cid}'"
    seen: list[dict[str, Any] | None] = [None]

    def whole_campaign() -> bool:
        [progress] = stack.sql(
            "SELECT contacts_total, contacts_final, reached, expired, skipped, attempts, calls_in_flight"
            f" FROM v_campaign_progress WHERE {where}"
        ) or [None]
        seen[0] = progress
        return bool(
            progress and progress["contacts_final"] == 5 and progress["calls_in_flight"] == 0
        )

    wait_until(
        whole_campaign,
        "ClickHouse to hold the whole campaign",
        progress=lambda: seen[0],
        poll_seconds=1,
    )
    progress = seen[0]
    assert progress is not None
    by_attempt = stack.sql(
        "SELECT attempt, count() AS calls, countIf(answered) AS answered FROM v_calls"
        f" WHERE {where} AND finished GROUP BY attempt ORDER BY attempt"
    )
    page.reload()
    wait_status(page, "completed")
    expect(page.get_by_test_id("done-total")).to_have_text(
        f"{progress['contacts_final']} / {progress['contacts_total']} contacts done"
    )
    expect(page.get_by_test_id("calls-created")).to_have_text(str(progress["attempts"]))
    reached = page.get_by_test_id("contacts-by-status").locator("[data-status='reached'] .count")
    expect(reached).to_have_text(str(progress["reached"]))
    for status in ("expired", "skipped"):  # SPEC 9's statuses, counted and filterable
        count = page.get_by_test_id("contacts-by-status").locator(
            f"[data-status='{status}'] .count"
        )
        expect(count).to_have_text(str(progress[status]))
        expect(page.locator(f"#contact-status option[value='{status}']")).to_have_count(1)
    [due] = stack.sql(f"SELECT sum(callbacks_waiting) AS n FROM v_callbacks_due WHERE {where}")
    expect(page.get_by_test_id("callbacks-due")).to_have_text(str(due["n"] or 0))
    table = page.get_by_test_id("by-attempt")
    for row in by_attempt:
        tr = table.locator("tbody tr").filter(has=page.locator(f"th:text-is('{row['attempt']}')"))
        expect(tr.locator("[data-col='calls']")).to_have_text(str(row["calls"]))
        expect(tr.locator("[data-col='answered']")).to_have_text(str(row["answered"]))


def today_utc() -> str:
    return datetime.now(UTC).strftime("%A")


def test_manual_wizard_keeps_the_draft_then_pause_and_resume(
    page: Page, stack: Stack, acme: Account, screenshots: Path
) -> None:
    sign_in(page, stack, acme)
    page.get_by_role("link", name="Create campaign").first.click()
    step_heading(page, 1)
    page.get_by_label("AI agent that handles the calls").select_option("renewals-bot")
    page.get_by_label("Source number the calls come from").select_option("second-line")
    next_step(page)

    step_heading(page, 2)
    page.get_by_label("New variable column").fill("name")
    page.get_by_role("button", name="Add column").click()
    page.get_by_label("Row 1 phone_number", exact=True).fill("+33612345678")
    page.get_by_label("Row 1 name", exact=True).fill("Jeanne")
    page.get_by_test_id("add-row").click()
    page.get_by_label("Row 2 phone_number", exact=True).fill("+33612345679")
    page.get_by_label("Row 2 name", exact=True).fill("Paul")
    page.get_by_label("Alternate numbers per contact").check()
    page.get_by_label("Variable for alternates").fill("name")
    page.get_by_role("button", name="Add alternate variable").click()
    page.get_by_label("Row 1 phone_number_2", exact=True).fill("+33612345670")
    page.get_by_label("Row 1 name_2", exact=True).fill("Jeanne's assistant")
    shot(page, screenshots, "02-wizard-number-list-manual", narrow=True)

    # Leaving the wizard loses nothing: the draft is in the browser.
    page.get_by_role("link", name="Campaigns", exact=True).click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    page.goto(f"{stack.base_url}/#/new/2")
    step_heading(page, 2)
    expect(page.get_by_label("Row 1 phone_number_2", exact=True)).to_have_value("+33612345670")
    expect(page.get_by_label("Row 2 name", exact=True)).to_have_value("Paul")
    page.get_by_test_id("check-list").click()
    expect(page.get_by_test_id("list-check")).to_have_text("2 accepted, 0 rejected.")
    next_step(page)

    step_heading(page, 3)
    page.get_by_label("name", exact=True).select_option("customer_name")
    expect(page.get_by_test_id("unfed")).to_contain_text("No column feeds: plan")
    next_step(page)

    step_heading(page, 4)
    page.get_by_label("Campaign name").fill("Holiday check-in")
    page.get_by_label("Time zone").fill("UTC")
    for day in ("Saturday", "Sunday"):
        page.get_by_label(day).check()
    # No calling today: once started the campaign runs and waits, so pause and resume
    # always meet a running campaign.
    page.get_by_label(today_utc()).uncheck()
    page.get_by_label("Concurrent calls").fill("1")
    page.get_by_label("Max retries").fill("1")
    page.get_by_label("Retry delay (minutes)").fill("0.1")
    page.get_by_label("Alternate number strategy").select_option("clamp")
    page.get_by_text("Compliance rules (optional)").click()
    page.get_by_role("button", name="Add blackout date").click()
    page.get_by_label("Blackout date 1", exact=True).fill("2026-12-25")
    page.get_by_role("button", name="Add attempt limit").click()
    next_step(page)
    # SPEC section 7 rules go to the API as they are; until the engine takes them the API
    # refuses them, and its words stand next to the fields (then the test drops them).
    page.wait_for_function(
        """() => document.querySelector('h1').textContent.includes('step 5')
        || document.querySelector("[data-error-for='rules.blackout_dates']").textContent"""
    )
    section7 = "step 5" not in page.locator("h1").inner_text()
    if section7:
        shot(page, screenshots, "04-wizard-compliance-refused")
        for path in ("rules.blackout_dates", "rules.attempt_limits"):
            expect(page.locator(f"[data-error-for='{path}']")).not_to_be_empty()
        page.get_by_role("button", name="Remove blackout date 1").click()
        page.get_by_role("button", name="Remove limit 1").click()
        next_step(page)

    step_heading(page, 5)
    expect(page.get_by_test_id("summary-contacts")).to_have_text("2 accepted, 0 rejected.")
    expect(page.get_by_test_id("summary")).to_contain_text("Not fed by any column: plan")
    if not section7:
        expect(page.get_by_test_id("summary-rules")).to_contain_text("2026-12-25")
    page.get_by_test_id("create").click()

    expect(page.locator("h1")).to_have_text("Holiday check-in")
    wait_status(page, "draft")
    page.get_by_role("button", name="Start Holiday check-in").click()
    wait_status(page, "running")
    page.get_by_role("button", name="Pause Holiday check-in").click()
    wait_status(page, "paused")
    shot(page, screenshots, "08-campaign-paused")
    page.get_by_role("button", name="Resume Holiday check-in").click()
    wait_status(page, "running")
    expect(page.get_by_test_id("done-total")).to_have_text("0 / 2 contacts done")
    # The wizard's draft is gone once the campaign exists.
    page.get_by_role("link", name="Create campaign").first.click()
    step_heading(page, 1)
    expect(page.get_by_label("AI agent that handles the calls")).to_have_value("")


def draft_via_api(account: Account, cid: str, name: str) -> None:
    body = {
        "definition": {
            "campaign_id": cid,
            "name": name,
            "agent_id": "renewals-bot",
            "source_number_id": "main-line",
            "rules": {
                "max_retries": 0,
                "calling_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "calling_window": {"start": "00:00", "end": "24:00"},
                "timezone": "UTC",
                "concurrent_calls": 1,
            },
        },
        "contacts": [{"phone_number": f"+1212555{n:04d}"} for n in range(200, 203)],
    }
    r = account.call("POST", "/campaigns", body)
    assert r.status_code == 201, r.text


def test_cancel_from_the_list_and_the_engine_reason_on_refusal(
    page: Page, stack: Stack, acme: Account, screenshots: Path
) -> None:
    draft_via_api(acme, "winter-offer", "Winter offer")
    sign_in(page, stack, acme)
    page.get_by_label("Status", exact=True).select_option("draft")
    row = page.locator("tr[data-campaign='winter-offer']")
    expect(row.get_by_role("button", name="Start Winter offer")).to_be_visible()
    assert_accessible(page, "campaigns list")
    # Started behind the page's back: the stale Start button meets the engine's refusal.
    r = acme.call("POST", "/campaigns/winter-offer/start")
    assert r.status_code == 200, r.text
    row.get_by_role("button", name="Start Winter offer").click()
    message = row.get_by_test_id("action-message")
    expect(message).to_contain_text("Start refused:")
    detail = message.inner_text().split("Start refused:", 1)[1].strip()
    assert detail, "the engine's reason is shown"
    page.get_by_label("Status", exact=True).select_option("")
    page.on("dialog", lambda d: d.accept())
    row = page.locator("tr[data-campaign='winter-offer']")
    row.get_by_role("button", name="Cancel Winter offer").click()
    wait_until(row.locator("[data-status='cancelled']").is_visible, "the row to show cancelled")
    expect(row.get_by_role("button")).to_have_count(0)  # nothing left to do
    shot(page, screenshots, "09-campaigns-list", narrow=True)
    # Duplicate the cancelled campaign: the copy is a new draft with the same contacts.
    row.get_by_role("link", name="Winter offer").click()
    wait_status(page, "cancelled")
    page.get_by_text("Duplicate", exact=True).click()
    page.get_by_label("New campaign ID").fill("winter-offer-2")
    page.get_by_label("New name").fill("Winter offer again")
    page.get_by_role("button", name="Create the copy as a draft").click()
    expect(page.locator("h1")).to_have_text("Winter offer again")
    wait_status(page, "draft")
    expect(page.get_by_test_id("done-total")).to_have_text("0 / 3 contacts done")


def test_an_account_without_subscription_cannot_start(
    page: Page, stack: Stack, lapsed: Account, screenshots: Path
) -> None:
    draft_via_api(lapsed, "lapsed-draft", "Lapsed draft")
    sign_in(page, stack, lapsed)
    banner = page.get_by_test_id("subscription-banner")
    expect(banner).to_contain_text("not active")
    banner.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Settings → Subscription")).to_be_visible()
    expect(page.get_by_test_id("subscription-status")).to_have_text("Not active")
    assert_accessible(page, "settings subscription")
    shot(page, screenshots, "10-settings-subscription")
    page.goto(f"{stack.base_url}/#/campaigns/lapsed-draft")
    wait_status(page, "draft")
    page.get_by_role("button", name="Start Lapsed draft").click()
    expect(page.get_by_test_id("action-message")).to_contain_text("subscription")
    # Scheduling is refused the same way; the form is reached and sent with the keyboard.
    page.locator("summary[data-action='schedule']").focus()
    page.keyboard.press("Enter")
    when = page.get_by_label(re.compile("^Start time for Lapsed draft"))
    when.fill("2030-01-02T10:00")
    when.press("Enter")
    expect(page.get_by_test_id("action-message")).to_contain_text("Schedule refused:")
    expect(page.get_by_test_id("action-message")).to_contain_text("subscription")
    page.reload()
    wait_status(page, "draft")
    r = lapsed.call("GET", "/campaigns/lapsed-draft")
    assert r.json()["status"] == "draft"


def test_a_new_account_adds_its_agent_and_number_in_step_one(
    page: Page, stack: Stack, newcomer: Account, screenshots: Path
) -> None:
    sign_in(page, stack, newcomer)
    page.get_by_role("link", name="Create campaign").first.click()
    step_heading(page, 1)
    expect(page.get_by_text("This account has no agent yet")).to_be_visible()
    page.get_by_label("Agent ID").fill("Not an id")
    page.get_by_label("Agent name").fill("Reminders")
    page.get_by_label("Prompt").fill("Hello {{first_name}}, your appointment is on {{day}}.")
    page.get_by_role("button", name="Add agent").click()
    # The API's own message, next to the field it names.
    agent_error = page.locator(".add-resource [data-error-for='agent_id']").first
    expect(agent_error).not_to_be_empty()
    page.get_by_label("Agent ID").fill("reminders")
    page.get_by_role("button", name="Add agent").click()
    expect(page.get_by_label("AI agent that handles the calls")).to_have_value("reminders")
    expect(page.locator(".prompt-preview")).to_contain_text("first_name, day")
    # With no number yet, the "Add a phone number" form is open already.
    page.get_by_label("Number ID").fill("front-desk")
    page.get_by_label("Label").fill("Front desk")
    page.get_by_label("Number (E.164)").fill("+33140000000")
    page.get_by_role("button", name="Add number").click()
    expect(page.get_by_label("Source number the calls come from")).to_have_value("front-desk")
    expect(page.get_by_label("AI agent that handles the calls")).to_have_value("reminders")
    assert_accessible(page, "wizard step 1 with the add forms")
    shot(page, screenshots, "01-wizard-new-account")
    next_step(page)
    step_heading(page, 2)
