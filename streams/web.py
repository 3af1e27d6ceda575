"""The worker's web pages: GET /campaigns/{id} (routed to the partition's owner) and /metrics.

Faust's own /table/ and /router/ pages are off (`streams.app`); a status request that
reaches a worker not owning the campaign's partition is forwarded by `app.table_route`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import faust
from prometheus_client import generate_latest

from campaigns.state import CampaignState
from campaigns.windows import iso
from streams.partitioner import partition_of
from topics.loopback import host_allowed, server_names

# committed state of (partition, campaign id), or None
CommittedLookup = Callable[[int, str], CampaignState | None]


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
    @app.table_route(table=state, match_info="campaign_id")
    async def campaign_status(web: Any, request: Any, campaign_id: str) -> Any:
        partition = partition_of(campaign_id.encode(), partitions)
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
