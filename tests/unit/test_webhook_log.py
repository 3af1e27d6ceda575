"""api.webhooks.DeliveryLog: each endpoint's last deliveries for the webhooks page (issue
24, item 4): newest first, bounded, one list per endpoint, forgotten with the endpoint."""

from __future__ import annotations

from api.webhooks import MAX_LOGGED, DeliveryLog, Endpoint, Result, WebhookDelivery


def _result(endpoint: Endpoint, n: int, ok: bool = True) -> Result:
    d = WebhookDelivery(
        endpoint, "https://example.org/h", "s", f"ev-{n}", b"{}", None, "contact.final"
    )
    return Result(d, ok, "" if ok else "HTTP 503 after 5 tries", 204 if ok else 503, 1 if ok else 5)


def test_newest_first_bounded_and_per_endpoint() -> None:
    log = DeliveryLog()
    a, b = Endpoint("acme", "wh-a"), Endpoint("acme", "wh-b")
    for n in range(MAX_LOGGED + 5):
        log.add(_result(a, n), "contact.final")
    failed = log.add(_result(b, 99, ok=False), "contact.final")
    listed = log.last(a)
    assert len(listed) == MAX_LOGGED
    assert [r.event_id for r in listed[:2]] == [f"ev-{MAX_LOGGED + 4}", f"ev-{MAX_LOGGED + 3}"]
    assert listed[-1].event_id == "ev-5"
    assert log.last(b) == [failed]
    assert (failed.ok, failed.status, failed.attempts) == (False, 503, 5)
    assert failed.error == "HTTP 503 after 5 tries"
    assert log.last(Endpoint("other", "wh-a")) == []  # another account's endpoint of that id
    log.forget(a)
    assert log.last(a) == [] and log.last(b) == [failed]
