"""The webhook dispatcher's pure parts: which answers are final, how far offsets may be
committed while deliveries of later events finish first (per-endpoint queues), and the
payload of every final status."""

from __future__ import annotations

from api.webhooks import EVENT_KINDS, Offsets, judge, payload
from campaigns.events import ContactFinal, ContactStatus
from topics import translate
from topics.codec import decode, encode


def test_commit_stops_at_the_oldest_event_with_a_delivery_running() -> None:
    o = Offsets()
    o.read(0, 10, deliveries=2)  # two endpoints
    o.read(0, 11, deliveries=0)  # nobody subscribed
    o.read(0, 12, deliveries=1)
    o.read(1, 5, deliveries=0)
    assert o.to_commit() == {0: 10, 1: 6}
    o.committed({0: 10, 1: 6})
    assert o.to_commit() == {}  # nothing moved
    o.done(0, 12)  # a later event finished first: the commit may not pass event 10
    o.done(0, 10)
    assert o.to_commit() == {}
    assert o.running == 1
    o.done(0, 10)
    assert o.to_commit() == {0: 13}


def test_a_partition_given_away_is_forgotten() -> None:
    o = Offsets()
    o.read(3, 7, deliveries=1)
    o.forget([3])
    o.done(3, 7)  # a delivery finishing after the revoke changes nothing
    assert o.to_commit() == {} and o.running == 0


def test_which_answers_are_final() -> None:
    assert judge(204).status == 204 and not judge(204).error
    assert judge(302).final and "redirects are not followed" in judge(302).error
    assert judge(410).final and judge(410).error == "HTTP 410 (not retried)"
    for retried in (408, 429, 500, 503):
        assert not judge(retried).final, retried


def test_every_final_status_reaches_the_webhooks_as_contact_final() -> None:
    """SPEC 9's `expired` and `skipped` travel on campaign.events (CampaignEvent v4) and are
    delivered as `contact.final` with their status, like every other final status."""
    for status in ContactStatus:
        event = ContactFinal(1_000, "spring", "row-1", status, 2)
        record = translate.event_to_record("acme", event, f"acme/spring:final:{status}")
        assert record is not None
        name, decoded = decode(encode("CampaignEvent", record))
        kind = EVENT_KINDS[decoded["body"][0].rsplit(".", 1)[-1]]
        body = payload(decoded, kind, "acme")
        assert (body["type"], body["data"]["status"]) == ("contact.final", status.value)
