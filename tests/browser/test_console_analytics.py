"""The console's analytics page in Chromium against the live stack (issue 24, item 1): a
campaign of its own account run to completion by the simulated dialer, then the page's
totals, hours and campaign row equal ClickHouse's (`campaignflow sql`, a query written
here); another period and a bad custom period; axe-core; screenshots at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import Account, Stack, _account
from tests.browser.test_console import assert_accessible, draft_via_api, page, shot, sign_in
from tests.helpers import wait_until

__all__ = ["page"]  # the console suite's page fixture (viewport, script errors fail the test)

ACCOUNT = "analyticspage"
SLOW_MS = 120_000


def _finished_calls(stack: Stack) -> int:
    rows = stack.sql(
        f"SELECT countIf(finished) AS n FROM v_calls WHERE account_id = '{ACCOUNT}' AND has_attempt"
    )
    return int(rows[0]["n"])


def _status(account: Account, cid: str) -> str:
    return str(account.call("GET", f"/campaigns/{cid}").json()["status"])


def test_the_pages_totals_are_clickhouses(page: Page, stack: Stack, screenshots: Path) -> None:
    acct = _account(stack, ACCOUNT, "Analytics Page Co", active=True)
    draft_via_api(acct, "reach-out", "Reach out")
    assert acct.call("POST", "/campaigns/reach-out/start").status_code == 200
    wait_until(lambda: _status(acct, "reach-out") == "completed", "the campaign completed")
    # No retry: one call per contact (3), each landed with its outcome in ClickHouse.
    wait_until(lambda: _finished_calls(stack) == 3, "the 3 calls and outcomes in ClickHouse")

    sign_in(page, stack, acct)
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    # Six queries through the sink's endpoint: a bound for a stuck page, not a speed target.
    expect(page.get_by_test_id("total-calls")).to_have_text("3", timeout=SLOW_MS)
    answer = acct.call("GET", "/analytics?period=7d&tz=UTC").json()
    start, end = answer["period"]["start"], answer["period"]["end"]
    (want,) = stack.sql(
        "SELECT count() AS calls, countIf(answered) AS answered_calls, countIf(finished) AS ended,"
        " sumIf(duration_seconds, answered) AS talk FROM v_calls"
        f" WHERE account_id = '{ACCOUNT}' AND has_attempt"
        f" AND created_at >= parseDateTime64BestEffort('{start}', 3, 'UTC')"
        f" AND created_at < parseDateTime64BestEffort('{end}', 3, 'UTC')"
    )
    expect(page.get_by_test_id("total-answered")).to_have_text(str(want["answered_calls"]))
    rate = f"{int(want['answered_calls']) / int(want['ended']) * 100:.1f}%"
    expect(page.get_by_test_id("total-rate")).to_have_text(rate)
    minutes = round(float(want["talk"]) / 60, 2)
    expect(page.get_by_test_id("total-minutes")).to_have_text(f"{minutes:g}")
    assert answer["totals"]["calls"] == int(want["calls"]) == 3
    assert sum(h["calls"] for h in answer["by_hour"]) == 3
    row = page.get_by_test_id("campaigns-compared").locator("tr[data-campaign='reach-out']")
    expect(row).to_contain_text("Reach out")
    cells = row.locator("td")
    expect(cells.nth(1)).to_have_text("3")  # contacts
    expect(cells.nth(4)).to_have_text("3")  # calls
    assert_accessible(page, "analytics")
    shot(page, screenshots, "16-analytics", narrow=True)

    # Another period: today, by hour (its totals are not asserted: a run at midnight).
    page.get_by_label("Period", exact=True).select_option("today")
    expect(page.get_by_role("heading", name="Calls by hour")).to_be_visible(timeout=SLOW_MS)
    # A custom period the API refuses: its reason, naming the parameter.
    page.get_by_label("Period", exact=True).select_option("custom")
    page.get_by_label("From", exact=True).fill("2026-03-02")
    page.get_by_label("To", exact=True).fill("2026-03-01")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#analytics-msg")).to_contain_text("to: before from", timeout=SLOW_MS)
