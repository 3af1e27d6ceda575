"""The console's webhooks page in Chromium against the live stack (issue 24, item 4): an
endpoint added (its secret shown once), a test event received and its signature checked by
a real HTTP server of this test on 127.0.0.1 (the stack admits loopback webhooks), a test
event the endpoint refuses listed with its status and attempts, the endpoint removed;
axe-core; screenshots at 1280 and 390 px."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Stack, _account
from tests.browser.test_console import assert_accessible, page, shot, sign_in
from tests.integration.api_kit import Receiver

__all__ = ["page"]  # the console suite's page fixture (viewport, script errors fail the test)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_a_test_event_reaches_a_real_endpoint_signed(
    page: Page, stack: Stack, screenshots: Path, receiver: Receiver
) -> None:
    acct = _account(stack, "hookspage", "Hooks Page Co", active=True, seed=False)
    sign_in(page, stack, acct)
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    expect(page.get_by_text("No endpoint yet")).to_be_visible()
    assert_accessible(page, "webhooks (empty)")

    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_label("Campaign progress (campaign.progress)").uncheck()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_text("Copy the signing secret now: it is shown only once.")).to_be_visible()
    secret = page.locator("#new-webhook-secret").input_value()
    assert secret.startswith("whsec_")
    receiver.secret = secret
    (hook,) = acct.call("GET", "/webhooks").json()["items"]
    assert hook["events"] == ["caller_id.degraded", "campaign.status", "contact.final"]
    assert hook["secret"] is None  # shown once, never listed
    card = page.locator(f"article[data-webhook-id='{hook['webhook_id']}']")
    expect(card).to_contain_text("caller_id.degraded, campaign.status, contact.final")

    card.get_by_role("button", name=f"Send a test event to {hook['webhook_id']}").click()
    expect(card.get_by_test_id("test-result")).to_have_text("Test event delivered (HTTP 204).")
    (got,) = receiver.snapshot()
    assert got["type"] == "webhook.test" and got["account_id"] == "hookspage"
    assert got["data"] == {"webhook_id": hook["webhook_id"]} and receiver.bad_signatures == 0
    expect(card.get_by_test_id("delivery-result")).to_have_text(["Delivered"])
    expect(card.locator("table.deliveries tbody td").nth(4)).to_have_text("1")  # attempts

    # A refused delivery is listed with the endpoint's answer (401 is final: one attempt).
    receiver.secret = "whsec_not-the-one"
    card.get_by_role("button", name=f"Send a test event to {hook['webhook_id']}").click()
    expect(card.get_by_test_id("test-result")).to_contain_text("not delivered: HTTP 401")
    expect(card.get_by_test_id("delivery-result")).to_have_text(
        ["Failed: HTTP 401 (not retried)", "Delivered"]
    )
    assert receiver.bad_signatures == 1 and len(receiver.snapshot()) == 1
    assert_accessible(page, "webhooks (deliveries)")
    shot(page, screenshots, "15-webhooks", narrow=True)

    card.get_by_role("button", name=f"Remove {hook['webhook_id']}").click()
    card.get_by_role("button", name="Yes, remove").click()
    expect(page.get_by_text("No endpoint yet")).to_be_visible()
    assert acct.call("GET", f"/webhooks/{hook['webhook_id']}").status_code == 404
