"""The worker's web pages: GET /accounts/{account}/campaigns/{id} (routed to the owner of
the account's partition) and /metrics.

Campaign ids are unique per account only, and the topics are keyed by account: the
account picks the partition. Faust's own /table/ and /router/ pages are off
(`streams.app`); a status request that reaches a worker not owning the account's
partition is forwarded by `app.table_route`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
from prometheus_client import generate_latest

from campaigns.state import CampaignState
from campaigns.windows import iso
from streams.partitioner import partition_of
from topics.catalogue import account_key

# committed state of (partition, account id, campaign id), or None
CommittedLookup = Callable[[int, str, str], CampaignState | None]


def status_body(camp: CampaignState, partition: int) -> dict[str, Any]:
    """What GET /accounts/{account}/campaigns/{id} answers (committed state)."""
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

    @app.page("/accounts/{account_id}/campaigns/{campaign_id}")
    @app.table_route(table=state, match_info="account_id")
    async def campaign_status(web: Any, request: Any, account_id: str, campaign_id: str) -> Any:
        partition = partition_of(account_key(account_id), partitions)
        camp = committed(partition, account_id, campaign_id)
        if camp is None:
            return web.json({"error": f"unknown campaign {campaign_id}"}, status=404)
        return web.json(status_body(camp, partition))

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type="text/plain; version=0.0.4")
