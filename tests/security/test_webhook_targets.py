"""Account webhooks cannot reach inside, be redirected, flood the API or stall another account.

Issue 21 item 9, on the real broker with real HTTP servers started here: endpoints on
loopback and link-local addresses (also through DNS) are refused at connect time and
at registration, a 302 is not followed, a huge answer is not read, a trickling answer
is cut at the total time, and a slow endpoint of one account delays only its own
deliveries (observed by order and progress, not by the clock).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import accounts
from api.app import create_app, stop_services
from campaignflow.config import settings
from dialer.targets import address_refusal, url_refusal
from tests.helpers import wait_until
from tests.integration.api_kit import local_services
from tests.integration.dialer_kit import drop_topics
from tests.security.webhook_rig import FarSide, Rig, answer

MiB = 1 << 20
HUGE_BYTES = 300 * MiB


@pytest.fixture()
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Any]:
    made: list[Rig] = []

    def make(**config: Any) -> Rig:
        made.append(Rig(kafka_bootstrap, tmp_path / f"api-{len(made)}", **config))
        return made[-1]

    try:
        yield make
    finally:
        for r in made:
            r.close()


def test_inside_addresses_are_refused_at_connect_time_also_through_dns(rig: Any) -> None:
    r = rig(webhook_allow_loopback=False, webhook_tries=3)
    inside = FarSide(answer(204))
    try:
        r.hook("acme", "wh-literal", inside.url)
        r.hook("acme", "wh-name", f"http://localhost:{inside.port}/hook")  # resolved by DNS
        r.hook("acme", "wh-metadata", "http://169.254.169.254/latest/meta-data/")
        r.hook("acme", "wh-mapped", f"http://[::ffff:127.0.0.1]:{inside.port}/hook")
        r.campaign("acme", "in-1")
        r.event("in-1")
        r.dispatcher.start()
        wait_until(lambda: r.dispatcher.parked == 4, "4 parked deliveries")
        assert inside.seen() == []  # nothing reached the inside server
        errors = r.webhook_errors()
        assert errors["wh-literal"] == (
            "refused: 127.0.0.1 is a loopback address: webhooks and pre-dial checks go to public addresses only"
        )
        assert errors["wh-name"].startswith("refused: ")  # localhost's addresses, refused
        assert "loopback" in errors["wh-name"]
        assert errors["wh-metadata"].startswith("refused: 169.254.169.254 is a link-local")
        assert errors["wh-mapped"].startswith("refused: 127.0.0.1 is a loopback")
        assert r.dispatcher.delivered == 0
    finally:
        inside.close()


def test_a_redirect_is_not_followed(rig: Any) -> None:
    r = rig()
    inside = FarSide(answer(204))
    redirecting = FarSide(answer(302, Location=inside.url))
    try:
        r.hook("acme", "wh-302", redirecting.url)
        r.campaign("acme", "rd-1")
        event_id = r.event("rd-1")
        r.dispatcher.start()
        wait_until(lambda: r.dispatcher.parked == 1, "the parked delivery")
        assert redirecting.seen() == [event_id]  # one try: a 3xx is final
        assert inside.seen() == []
        assert r.webhook_errors() == {"wh-302": "HTTP 302 (redirects are not followed)"}
    finally:
        inside.close()
        redirecting.close()


class Huge:
    """A 200 announcing HUGE_BYTES, written until the client hangs up; counts bytes sent."""

    def __init__(self) -> None:
        self.sent = 0
        self.finished = threading.Event()

    def __call__(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(HUGE_BYTES))
        h.end_headers()
        chunk = b"x" * MiB
        try:
            while self.sent < HUGE_BYTES:
                h.wfile.write(chunk)
                self.sent += len(chunk)
        except OSError:
            pass
        finally:
            self.finished.set()


def trickle(h: BaseHTTPRequestHandler, body: bytes) -> None:
    """A status line, then one header byte at a time, until the client hangs up."""
    stop = threading.Event()
    try:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        while not stop.wait(0.1):
            h.wfile.write(b"a")
            h.wfile.flush()
    except OSError:
        return


def test_answers_are_capped_in_size_and_in_total_time(rig: Any) -> None:
    r = rig(webhook_timeout_s=3.0)
    huge = Huge()
    big, slow = FarSide(huge), FarSide(trickle)
    try:
        r.hook("acme", "wh-huge", big.url)
        r.hook("acme", "wh-trickle", slow.url)
        r.campaign("acme", "big-1")
        event_id = r.event("big-1")
        r.dispatcher.start()
        wait_until(
            lambda: r.dispatcher.delivered + r.dispatcher.parked == 2, "both deliveries settled"
        )
        # The 2xx is the receipt: delivered, and the body was not read (the connection
        # was dropped after the headers; what was sent is what socket buffers took).
        assert r.dispatcher.delivered == 1
        wait_until(huge.finished.is_set, "the huge answer's writer to stop")
        assert huge.sent < HUGE_BYTES // 4, huge.sent
        # A far side that never finishes its answer is cut at the total time of an attempt.
        assert slow.seen() == [event_id, event_id]  # two tries
        assert r.webhook_errors() == {"wh-trickle": "TimeoutError after 2 tries"}
    finally:
        big.close()
        slow.close()


class Stuck:
    """Holds every request until `release` is set; keeps arrival order and answers 204."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.open = 0
        self.answered: list[str] = []

    def __call__(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        self.open += 1
        self.release.wait(300)
        h.send_response(204)
        h.end_headers()
        self.answered.append(h.headers.get("X-Campaignflow-Event-Id") or "")


def test_a_slow_endpoint_delays_only_its_own_deliveries(rig: Any) -> None:
    r = rig(webhook_timeout_s=600.0, webhook_tries=1)
    stuck = Stuck()
    slow, quick = FarSide(stuck), FarSide(answer(204))
    try:
        r.hook("slow-co", "wh-slow", slow.url)
        r.hook("quick-co", "wh-quick", quick.url)
        r.campaign("slow-co", "slow-1")
        r.campaign("quick-co", "quick-1")
        r.dispatcher.start()
        first = r.event("slow-1")
        wait_until(lambda: stuck.open == 1, "the slow endpoint holding a request")
        second = r.event("slow-1")  # waits in the slow endpoint's own queue
        other = r.event("quick-1")
        wait_until(lambda: quick.seen() == [other], "the other account's delivery")
        wait_until(lambda: r.dispatcher.delivered == 1, "it is settled")
        # ... while the slow endpoint still holds its first request and has not had the second
        assert stuck.answered == [] and slow.seen() == [first]
        assert r.dispatcher.parked == 0
        stuck.release.set()
        wait_until(lambda: r.dispatcher.delivered == 3, "the slow endpoint's deliveries")
        assert slow.seen() == [first, second]  # in order, one at a time
        assert stuck.answered == [first, second]
    finally:
        stuck.release.set()
        slow.close()
        quick.close()


@pytest.fixture()
def api(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    prefix = f"twr-{uuid.uuid4().hex[:8]}."
    svc = local_services(kafka_bootstrap, prefix, tmp_path / "api")
    try:
        with TestClient(create_app(svc.config, services=svc)) as client:
            yield client, svc
    finally:
        stop_services(svc)
        drop_topics([t.name for t in settings().topics_at(prefix).catalogue().values()])


INSIDE_URLS = [
    "http://127.0.0.1:9303/query",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8080/v1/account",
    "http://localhost:8123/",
    "https://10.0.0.7/hook",
    "http://2130706433/",
    "http://[::ffff:169.254.169.254]/",
]


def test_registration_refuses_plainly_inside_urls_naming_the_field(
    api: tuple[TestClient, Any],
) -> None:
    client, svc = api
    key = accounts.create_account(svc.cp, "reg-co").key
    headers = {"Authorization": f"Bearer {key}"}
    for url in INSIDE_URLS:
        resp = client.post("/v1/webhooks", json={"url": url}, headers=headers)
        assert resp.status_code == 422, (url, resp.text)
        (error,) = resp.json()["errors"]
        assert error["field"] == "url" and "public address" in error["message"], (url, error)
    assert client.get("/v1/webhooks", headers=headers).json()["items"] == []
    ok = client.post("/v1/webhooks", json={"url": "https://hooks.example.org/h"}, headers=headers)
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("100.64.0.1", False),  # shared address space (carrier NAT)
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_which_addresses_a_webhook_may_connect_to(address: str, allowed: bool) -> None:
    assert (address_refusal(address, allow_loopback=False) is None) is allowed
    # the loopback switch opens loopback only
    opened = address in ("127.0.0.1", "::1") or allowed
    assert (address_refusal(address, allow_loopback=True) is None) is opened


def test_the_loopback_switch_lets_tests_register_local_receivers() -> None:
    assert url_refusal("http://127.0.0.1:9/h", allow_loopback=True) is None
    assert url_refusal("http://localhost:9/h", allow_loopback=True) is None
    assert url_refusal("http://169.254.169.254/", allow_loopback=True) is not None
    assert url_refusal("https://hooks.example.org/h", allow_loopback=False) is None


def test_an_unknown_campaign_holds_only_its_own_events(rig: Any) -> None:
    """An event whose campaign the read model does not know yet waits on its own; the
    next account's events go out meanwhile (the dispatcher used to wait up to 30 s)."""
    r = rig(webhook_campaign_wait_s=600.0)
    late, quick = FarSide(answer(204)), FarSide(answer(204))
    try:
        r.hook("late-co", "wh-late", late.url)
        r.hook("quick-co", "wh-quick", quick.url)
        r.campaign("quick-co", "quick-2")
        r.dispatcher.start()
        held = r.event("late-2", account="late-co")  # its campaign is not in the read model yet
        other = r.event("quick-2")
        wait_until(lambda: quick.seen() == [other], "the other account's delivery")
        assert late.seen() == []
        r.campaign("late-co", "late-2")  # the read model learns it: the held event goes out
        wait_until(lambda: late.seen() == [held], "the held event")
        wait_until(lambda: r.dispatcher.delivered == 2, "both settled")
    finally:
        late.close()
        quick.close()


def test_a_stuck_endpoints_backlog_is_bounded(rig: Any) -> None:
    """Past `webhook_queue_max` waiting deliveries, one more is parked at once."""
    r = rig(webhook_timeout_s=600.0, webhook_tries=1, webhook_queue_max=1)
    stuck = Stuck()
    slow = FarSide(stuck)
    try:
        r.hook("slow-co", "wh-slow", slow.url)
        r.campaign("slow-co", "slow-3")
        r.dispatcher.start()
        first = r.event("slow-3")
        wait_until(lambda: stuck.open == 1, "the endpoint holding a request")
        second = r.event("slow-3")  # waits: the queue holds one
        r.event("slow-3")  # one too many
        wait_until(lambda: r.dispatcher.parked == 1, "the parked delivery")
        assert r.webhook_errors() == {
            "wh-slow": "endpoint backlog full (1 deliveries waiting; not sent)"
        }
        stuck.release.set()
        wait_until(lambda: r.dispatcher.delivered == 2, "the two kept")
        assert stuck.answered == [first, second]
    finally:
        stuck.release.set()
        slow.close()


def test_a_test_event_meets_the_same_address_guard(rig: Any) -> None:
    """The console's "send a test event" (issue 24, item 4) is a real delivery: a name that
    resolves inside is refused at connect time like any event's, listed, and not parked."""
    r = rig(webhook_allow_loopback=False)
    inside = FarSide(answer(204))
    try:
        r.hook("acme", "wh-name", f"http://localhost:{inside.port}/hook")
        r.dispatcher.start()
        hook = r.svc.cp.get("webhook", "acme", "wh-name")
        record = r.dispatcher.send_test("acme", hook)
        assert (record.ok, record.status, record.attempts) == (False, None, 1)
        assert record.error.startswith("refused: ") and "loopback" in record.error
        assert inside.seen() == []
        assert r.dispatcher.deliveries("acme", "wh-name") == [record]
        assert r.dispatcher.deliveries("other", "wh-name") == []
        assert r.dispatcher.parked == 0
    finally:
        inside.close()
