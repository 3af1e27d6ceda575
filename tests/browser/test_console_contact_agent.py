"""The wizard's agent column in Chromium against the live stack (issue 23 item 3).

Step 2's table gets the `agent_id` column, which offers the account's agents; one row is
given a second agent and the other keeps the campaign's. Created and started, the engine's
call:create for each (as the sink stored it) names that row's agent, and so does the
campaign's contact view."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import Stack, _account
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
from tests.helpers import wait_until

__all__ = ["page"]  # the console suite's page fixture (viewport, script errors fail the test)

FIRST, SECOND = "+12125550501", "+12125550502"


def test_a_row_given_a_second_agent_is_called_by_that_agent(
    page: Page, stack: Stack, screenshots: Path
) -> None:
    acct = _account(stack, "agentsco", "Agents Co", active=True)
    r = acct.call(
        "POST",
        "/agents",
        {"agent_id": "winback-bot", "name": "Win-back", "prompt": "Hello {{customer_name}}."},
    )
    assert r.status_code in (200, 201), r.text
    cid = "agents-per-row"
    sign_in(page, stack, acct)
    page.get_by_role("link", name="Create campaign").first.click()
    step_heading(page, 1)
    page.get_by_label("AI agent that handles the calls").select_option("renewals-bot")
    page.get_by_label("Source number the calls come from").select_option("main-line")
    next_step(page)

    step_heading(page, 2)
    page.get_by_label("Row 1 phone_number", exact=True).fill(FIRST)
    page.get_by_test_id("add-row").click()
    page.get_by_label("Row 2 phone_number", exact=True).fill(SECOND)
    page.get_by_test_id("add-agent-column").click()
    agent_cell = page.get_by_label("Row 1 agent_id", exact=True)
    # the column offers the account's agents (blank: the campaign's own)
    offered = agent_cell.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert offered == ["", "renewals-bot", "winback-bot"]
    agent_cell.select_option("winback-bot")
    expect(page.get_by_label("Row 2 agent_id", exact=True)).to_have_value("")
    page.get_by_test_id("check-list").click()
    expect(page.get_by_test_id("list-check")).to_have_text("2 accepted, 0 rejected.")
    assert_accessible(page, "wizard step 2 with the agent column")
    shot(page, screenshots, "22-wizard-agent-column", narrow=True)
    next_step(page)

    step_heading(page, 3)
    next_step(page)

    step_heading(page, 4)
    page.get_by_label("Campaign name").fill("Agents per row")
    page.get_by_label("Campaign ID").fill(cid)
    page.get_by_label("Time zone").fill("UTC")
    for day in ALL_DAYS:
        page.get_by_label(day).check()
    page.get_by_label("Window 1 start").fill("00:00")
    page.get_by_label("Window 1 end").fill("24:00")
    page.get_by_label("Concurrent calls").fill("2")
    page.get_by_label("Max retries").fill("0")
    next_step(page)

    step_heading(page, 5)
    expect(page.get_by_test_id("summary-contacts")).to_have_text("2 accepted, 0 rejected.")
    page.get_by_test_id("create").click()
    expect(page.locator("h1")).to_have_text("Agents per row")
    wait_status(page, "draft")
    page.get_by_role("button", name="Start Agents per row").click()
    wait_status(page, "completed")

    def agents_called() -> dict[str, str]:
        rows = stack.sql(
            "SELECT to_number, agent_id FROM call_attempts"
            f" WHERE account_id = 'agentsco' AND campaign_id = '{cid}'"
        )
        return {row["to_number"]: row["agent_id"] for row in rows}

    wait_until(lambda: len(agents_called()) == 2, "the sink to hold both calls", poll_seconds=1)
    assert agents_called() == {FIRST: "winback-bot", SECOND: "renewals-bot"}
    # the campaign's contact view names the row's own agent too
    table = page.get_by_test_id("contacts-table")
    expect(table.locator("td[data-col='agent']")).to_have_text(["winback-bot", "the campaign's"])
