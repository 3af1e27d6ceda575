"""The worker's web pages: GET /campaigns/{id} (routed to the partition's owner) and /metrics.

Faust's own /table/ and /router/ pages are off (`streams.app`). A status request that
reaches a worker not owning the campaign's partition is forwarded to the owner, found in
the assignor's changelog distribution by the project's partitioner. (Faust's
`table_route` asked its producer for the key's partition, and that producer, which never
writes the changelog here, had no metadata for it: every request answered 500.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import aiohttp
import faust
from prometheus_client import generate_latest
from yarl import URL

from campaigns.models import CAMPAIGN_ID
from campaigns.state import CampaignState
from campaigns.windows import iso
from streams.partitioner import partition_of
from topics.loopback import host_allowed, server_names

# committed state of (partition, campaign id), or None
CommittedLookup = Callable[[int, str], CampaignState | None]
FORWARDED = "X-Campaignflow-Forwarded"  # a forwarded request is answered where it lands
FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=10.0)


def owner_url(app: faust.App, table: Any, partition: int) -> str | None:
    """The canonical URL of the worker assigned `partition` of the table, if known."""
    for url, topics in app.router.table_metadata(table.name).items():
        if any(partition in parts for parts in topics.values()):
            return str(url)
    return None


def _same_node(a: str, b: str) -> bool:
    ua, ub = URL(a), URL(b)
    return (ua.host, ua.port) == (ub.host, ub.port)


async def forward(app: faust.App, web: Any, request: Any, owner: str) -> Any:
    """The owner's answer to the same GET (one hop: the owner answers it itself)."""
    url = URL(owner).with_path(request.url.path)
    try:
        async with app.http_client.get(
            url, headers={FORWARDED: "1"}, timeout=FORWARD_TIMEOUT
        ) as response:
            text = await response.text()
            return web.text(text, content_type=response.content_type, status=response.status)
    except (aiohttp.ClientError, OSError, TimeoutError) as err:
        return web.json({"error": f"the owner {owner} did not answer: {err}"}, status=503)


def status_body(camp: CampaignState, partition: int) -> dict[str, Any]:
    """What GET /campaigns/{id} answers (committed state)."""
    open_contacts = camp.arrived - camp.final
    return {
        "campaign_id": camp.campaign_id,
        "status": camp.status.value if camp.status is not None else None,
        "partition": partition,
        "contacts": {
            "expected": camp.expected,
            "arrived": camp.arrived,
            "final": camp.final,
            "open": open_contacts,
            "in_call": camp.in_flight,
            "never_called": max(camp.arrived - camp.cursor, 0),
            "by_final_status": dict(sorted(camp.counts.items())),
        },
        "calls_created": camp.calls,
        "in_flight": camp.in_flight,
        "next_wake": iso(camp.next_wake_us) if camp.next_wake_us is not None else None,
        "start_at": iso(camp.start_at_us) if camp.start_at_us is not None else None,
        "finished_at": iso(camp.finished_at_us) if camp.finished_at_us is not None else None,
    }


def register(app: faust.App, state: Any, committed: CommittedLookup, partitions: int) -> None:
    """Add the status and metrics pages; `state` is the table status requests route by."""

    @app.page("/campaigns/{campaign_id}")
    async def campaign_status(web: Any, request: Any, campaign_id: str) -> Any:
        if not CAMPAIGN_ID.match(campaign_id):
            return web.json({"error": "not a campaign id"}, status=404)
        partition = partition_of(campaign_id.encode(), partitions)
        owner = owner_url(app, state, partition)
        here = str(app.conf.canonical_url)
        if owner is not None and not _same_node(owner, here) and FORWARDED not in request.headers:
            return await forward(app, web, request, owner)
        camp = committed(partition, campaign_id)
        if camp is None:
            return web.json({"error": f"unknown campaign {campaign_id}"}, status=404)
        return web.json(status_body(camp, partition))

    names = metrics_host_names(app)
    port = int(app.conf.web_port)

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        host = request.headers.get("Host")
        if not host_allowed(host, port, names):  # DNS rebinding: a page naming another host
            return web.json({"error": f"Host {host!r} is not this worker's address"}, status=403)
        return web.bytes(generate_latest(), content_type="text/plain; version=0.0.4")


def metrics_host_names(app: faust.App) -> tuple[str, ...]:
    """Names /metrics answers to: loopback, the bind address and the advertised host."""
    names = server_names(str(app.conf.web_bind))
    advertised = urlparse(str(app.conf.canonical_url)).hostname
    if advertised and advertised.lower() not in names:
        bracketed = f"[{advertised}]" if ":" in advertised else advertised
        names = (*names, bracketed.lower())
    return names
