"""A draft's edit (issue 24.6): its create body read back, and replaced while it is a draft.

The wizard opens a draft with `draft_body` (the create request's own shape: the agent and
source number by id, the rules under their campaign.yaml names, the contact rows), and
saves it with `edit`, which ingest's `edit_draft` turns into the engine's edit command
followed by the new list. The engine alone decides whether the campaign is still a draft.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from api import campaign_io
from api.campaign_io import CampaignIn, CreateJson
from api.campaign_service import ingest_client
from api.deps import Services
from api.problems import ApiProblem
from api.readmodel import CampaignSummary, ReadModel
from campaigns.models import CampaignDefinition
from ingest.upload import edit_draft
from topics.translate import definition_from_record

SEEN_TIMEOUT_S = 10.0  # the edit's batches wait until this replica's read model took it


def rules_body(d: CampaignDefinition) -> dict[str, Any]:
    """The rules as campaign.yaml writes them: other defaults left out, the calling days
    and window always (a form shows them), or `calling_hours` alone."""
    rules: dict[str, Any] = d.rules.model_dump(mode="json", exclude_defaults=True)
    if d.rules.calling_hours is None:
        full = d.rules.model_dump(mode="json", include={"calling_days", "calling_window"})
        rules.update(full)
    else:
        rules.pop("calling_days", None)
        rules.pop("calling_window", None)
    rules["timezone"] = d.rules.timezone
    rules["concurrent_calls"] = d.rules.concurrent_calls
    return rules


def definition_body(svc: Services, account: str, d: CampaignDefinition) -> CampaignIn:
    """The create request's definition for `d`; the source number by the account's id for it."""
    number_id = next(
        (rid for rid, n in svc.cp.items("number", account) if n.get("e164") == d.source_number),
        "",
    )
    return CampaignIn(
        campaign_id=d.campaign_id,
        name=d.name,
        description=d.description or "",
        agent_id=d.agent.id,
        source_number_id=number_id or d.source_number,
        default_region=d.default_region,
        variable_mapping=dict(d.variable_mapping),
        rules=rules_body(d),
        predial=None if d.predial is None else d.predial.model_dump(mode="json"),
    )


def draft_body(
    svc: Services, rm: ReadModel, account: str, row: CampaignSummary, scratch: Path
) -> CreateJson:
    """A draft's create body: 409 once it is not a draft, 413 over the JSON row limit."""
    campaign_id = row.campaign_id
    if row.status != "draft":
        raise ApiProblem(409, f"campaign {campaign_id} is {row.status}: only a draft is edited")
    cap = svc.config.max_json_contacts
    if row.arrived > cap:
        raise ApiProblem(413, f"contacts: {row.arrived} is over {cap} rows; upload a CSV")
    d = definition_from_record(row.definition)
    path = scratch / "contacts.csv"
    records = (rec for rec, _ in rm.all_contacts(account, campaign_id))
    campaign_io.records_to_csv(records, path)
    with path.open(encoding="utf-8", newline="") as f:
        rows = [{k: v for k, v in r.items() if v != ""} for r in csv.DictReader(f)]
    return CreateJson(definition=definition_body(svc, account, d), contacts=rows)


def edit(svc: Services, rm: ReadModel, account: str, d: CampaignDefinition, contacts: Path) -> Any:
    """Replace the draft; the upload summary of its new list. 409 when the engine refuses;
    a bad list or definition raises ingest's errors before anything is sent."""
    client = ingest_client(svc)

    def seen(command_id: str) -> None:
        def took() -> bool:
            row = rm.campaign(account, d.campaign_id)
            return row is not None and row.edit_id == command_id

        rm.wait_for(took, SEEN_TIMEOUT_S)

    result = edit_draft(
        d,
        contacts,
        target=client.target,
        producer=client.producer,
        timeout_seconds=svc.config.command_timeout_s,
        accepted=seen,
    )
    answer = result.answer
    if answer.outcome == "rejected":
        raise ApiProblem(409, f"edit {d.campaign_id}: {answer.reason}")
    if answer.outcome != "accepted":
        raise ApiProblem(503, f"edit {d.campaign_id}: sent, but no answer from the engine in time")
    return result.summary
