"""/v1/campaigns' service layer: what the routes do, apart from HTTP.

The routes (`api.routes_campaigns`) read a request and call these; these read the read
model, run ingest's upload and the engine's forecast, send commands, and shape the
answers (`api.campaign_models`). A draft's edit is in `api.campaign_drafts`.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api import accounts, campaign_io, forecast
from api.bodies import validation_errors
from api.campaign_io import CampaignIn, CreateJson
from api.campaign_models import (
    CONTACT_STATUSES,
    CampaignOut,
    CommandOut,
    ContactCounts,
    ContactOut,
    ContactsAdded,
    Counters,
    CreateSummary,
    Rejected,
    Variables,
)
from api.deps import MAX_LIMIT, Services
from api.problems import ApiProblem, ErrorItem, definition_errors
from api.readmodel import CampaignSummary, ContactView, ReadModel
from campaigns.compliance import preview_reason
from campaigns.contacts import ContactsFileError
from campaigns.events import CampaignStatus, CommandKind
from campaigns.lifecycle import TRANSITIONS
from campaigns.models import CAMPAIGN_ID, MAX_NAME_CHARS, CampaignDefinition, DefinitionError
from campaigns.simulate import parse_model
from ingest.api import CampaignClient
from ingest.commands import Answer, now_us
from ingest.upload import UploadError, upload
from topics.translate import contact_from_record, definition_from_record

COPY_CHUNK = 1 << 20


SEEN_TIMEOUT_S = 10.0  # a create answers once this replica's read model has the campaign


def iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def read_model(svc: Services) -> ReadModel:
    if svc.readmodel is None:
        raise ApiProblem(503, "the read model is not running")
    return svc.readmodel


def ingest_client(svc: Services) -> CampaignClient:
    if svc.client is None:
        raise ApiProblem(503, "the ingest client is not running")
    return svc.client


def own_campaign(svc: Services, account: str, campaign_id: str) -> CampaignSummary:
    """The caller's campaign of that id; 404 otherwise. Campaign ids are per account, so
    another account's campaign of the same id is simply not the caller's (nothing tells
    that it exists), and an id that is not a campaign id is no campaign (never a 500)."""
    row = read_model(svc).campaign(account, campaign_id) if CAMPAIGN_ID.match(campaign_id) else None
    if row is None:
        raise ApiProblem(404, f"no campaign {campaign_id[:80]!r}")
    return row


def allowed_actions(status: str) -> list[str]:
    try:
        st = CampaignStatus(status)
    except ValueError:
        return []
    return [k.value for (s, k) in TRANSITIONS if s == st]


def campaign_out(row: CampaignSummary, with_rules: bool = True) -> CampaignOut:
    d = row.definition
    total = max(row.expected, row.arrived)
    by_status = {s: 0 for s in CONTACT_STATUSES}
    by_status.update(row.by_status)
    by_status["pending"] = max(0, total - row.final)
    in_flight = max(0, row.calls_created - row.calls_ended)
    rules = d["rules"]
    limit = int(rules["concurrent_calls"]) - int(rules.get("inbound_free_slots") or 0)
    ended = row.calls_ended
    answered = row.outcomes.get("answered", 0)
    callbacks = row.callbacks
    estimate = None
    if row.status == "running" and row.final and row.start_at_ms:
        # contacts finish at the rate seen so far: a straight line, refreshed every read
        last_ms = row.last_activity_at_ms or 0
        elapsed = last_ms - row.start_at_ms
        if elapsed > 0:
            left = total - row.final
            estimate = iso_ms(int(last_ms + elapsed * left / row.final))
    elif row.status in ("completed", "cancelled"):
        estimate = iso_ms(row.last_activity_at_ms)
    return CampaignOut(
        campaign_id=row.campaign_id,
        name=row.name,
        description=row.description,
        status=row.status,
        agent_id=d["agent"]["id"],
        source_number=d["source_number"],
        rules=rules if with_rules else None,
        predial=d.get("predial") if with_rules else None,
        start_at=iso_ms(row.start_at_ms),
        created_at=iso_ms(row.created_at_ms),
        last_activity_at=iso_ms(row.last_activity_at_ms),
        counters=Counters(
            contacts_total=total,
            contacts_final=row.final,
            contacts_by_status=by_status,
            calls_created=row.calls_created,
            calls_in_flight=in_flight,
            concurrency_limit=limit,
            outcomes=row.outcomes,
            answer_rate=round(answered / ended, 4) if ended else None,
            callbacks_waiting=len(callbacks),
            next_callback_at=iso_ms(min(callbacks.values())) if callbacks else None,
        ),
        estimated_completion_at=estimate,
        allowed_actions=allowed_actions(row.status),
    )


def contact_out(v: ContactView) -> ContactOut:
    return ContactOut(
        contact_id=v.contact_id,
        row=v.row,
        status=v.status,
        attempts=v.attempts,
        last_outcome=v.last_outcome,
        next_attempt_at=iso_ms(v.next_attempt_at_ms),
        phone_last4=v.phone_last4,
        agent_id=v.agent_id,
    )


def validation_problem(err: ValidationError, prefix: str = "") -> ApiProblem:
    items = []
    for e in validation_errors(err):
        path = ".".join(str(p) for p in e["loc"])
        items.append(ErrorItem(field=f"{prefix}{path}" or "(body)", message=str(e["msg"])))
    return ApiProblem(422, f"{items[0].field}: {items[0].message}", items)


async def read_multipart(
    request: Request, svc: Services, tmp: Path, want_definition: bool
) -> tuple[str | None, Path | None]:
    """(definition JSON text, path of the streamed CSV) of a multipart body."""
    form = await request.form(
        max_files=1, max_fields=4, max_part_size=svc.config.max_definition_bytes
    )
    try:
        definition = form.get("definition")
        contacts = form.get("contacts")
        text: str | None = None
        if isinstance(definition, UploadFile):
            raw = await definition.read(svc.config.max_definition_bytes + 1)
            if len(raw) > svc.config.max_definition_bytes:
                raise ApiProblem(413, "definition: part over its size limit")
            text = raw.decode("utf-8", "replace")
        elif isinstance(definition, str):
            text = definition
        if want_definition and text is None:
            raise ApiProblem(
                422,
                "definition: a multipart upload needs a part named 'definition' (JSON)",
                [ErrorItem(field="definition", message="missing")],
            )
        path: Path | None = None
        if isinstance(contacts, UploadFile):
            path = tmp / "contacts.csv"
            with path.open("wb") as out:
                while chunk := await contacts.read(COPY_CHUNK):
                    out.write(chunk)
        elif isinstance(contacts, str):
            path = tmp / "contacts.csv"
            path.write_text(contacts, encoding="utf-8")
        if path is None:
            raise ApiProblem(
                422,
                "contacts: a multipart upload needs a part named 'contacts' (CSV file)",
                [ErrorItem(field="contacts", message="missing")],
            )
        return text, path
    finally:
        await form.close()


def parse_definition_text(text: str) -> CampaignIn:
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ApiProblem(
            422, f"definition: not JSON: {err}", [ErrorItem(field="definition", message="not JSON")]
        ) from None
    try:
        return CampaignIn.model_validate(data)
    except ValidationError as err:
        raise validation_problem(err, "definition.") from None


def json_create(raw: bytes, path: Path, max_contacts: int) -> CampaignIn:
    """A JSON create: its definition, and its contacts written to `path` as CSV."""
    try:
        req = CreateJson.model_validate(json.loads(raw))
    except ValidationError as err:
        raise validation_problem(err) from None
    except ValueError as err:
        raise ApiProblem(422, f"(body): not JSON: {err}", [ErrorItem(message="not JSON")]) from None
    if len(req.contacts) > max_contacts:
        raise ApiProblem(413, f"contacts: over {max_contacts} rows; upload a CSV")
    campaign_io.rows_to_csv(req.contacts, path)
    return req.definition


def ingest_problem(err: Exception) -> ApiProblem:
    text = str(err)
    if isinstance(err, DefinitionError):
        items = definition_errors(text)
        return ApiProblem(422, text, items)
    return ApiProblem(422, text, [ErrorItem(field="contacts", message=text)])


def create_summary(
    d: CampaignDefinition, s: Any, dry_run: bool, forecast_out: dict[str, Any] | None
) -> CreateSummary:
    return CreateSummary(
        campaign_id=d.campaign_id,
        status=None if dry_run else "draft",
        contacts=ContactCounts(accepted=s.accepted, rejected=s.rejected, rows=s.rows),
        rejected=[Rejected(**r) for r in campaign_io.first_rejections(s.rejects_path)],
        variables=Variables(
            mapped=s.mapping.mapped,
            unfed=s.mapping.unfed_variables,
            unmapped_columns=s.mapping.unmapped_columns,
            unfed_voicemail=s.mapping.unfed_voicemail_variables,
        ),
        rules=d.rules.model_dump(mode="json"),
        predial=None if d.predial is None else d.predial.model_dump(mode="json"),
        forecast=forecast_out,
        preview=preview_out(s),
        dead_lettered=s.dead_lettered,
    )


def preview_out(s: Any) -> dict[str, Any] | None:
    """`campaign create`'s launch preview (SPEC 7): counts by rule, each rule in words."""
    if s.preview is None or s.preview_at_us is None:
        return None
    return {
        "at": iso_ms(s.preview_at_us // 1000),
        "counts": dict(s.preview),
        "explanations": {reason: preview_reason(reason) for reason in s.preview},
    }


def create(
    svc: Services,
    account: str,
    d: CampaignDefinition,
    contacts: Path,
    dry_run: bool,
    answer_rate: float | None = None,
) -> CreateSummary:
    """ingest's upload (validate, parse, publish contacts then the create command)."""
    rm = read_model(svc)
    client = ingest_client(svc)
    if not dry_run and rm.exists(account, d.campaign_id):
        raise ApiProblem(
            409,
            f"campaign_id {d.campaign_id!r} is already in use; choose another",
            [ErrorItem(field="definition.campaign_id", message="already in use")],
        )
    try:
        s = upload(
            d,
            contacts,
            publish=not dry_run,
            target=client.target,
            producer=None if dry_run else client.producer,
            workers=1,
            timeout_seconds=svc.config.command_timeout_s,
            preview_at_us=now_us() if dry_run else None,
        )
    except (UploadError, DefinitionError, ContactsFileError) as err:
        raise ingest_problem(err) from None
    fc = None
    if dry_run and 0 < s.accepted <= 10_000:
        svc.take(account, "forecast contacts", svc.config.limits.forecast_contacts, s.accepted)
        model = forecast.model_for_answer_rate(answer_rate) if answer_rate is not None else None
        fc = forecast_file(svc, account, d, contacts, model or forecast.DEFAULT_MODEL)
    if not dry_run:
        rm.wait_for(lambda: rm.exists(account, d.campaign_id), SEEN_TIMEOUT_S)
    return create_summary(d, s, dry_run, fc)


def forecast_file(
    svc: Services, account: str, d: CampaignDefinition, path: Path, model: str
) -> dict[str, Any]:
    from campaigns.contacts import Contact, iter_contacts

    with path.open("rb") as f:
        listed = [
            c
            for c in iter_contacts(f, d.default_region, agents=d.agent_ids)
            if isinstance(c, Contact)
        ]
    lines, others = account_load(svc, account, d.campaign_id, len(listed))
    out = forecast.forecast(d, listed, parse_model(model), 7, lines=lines, others=others)
    out["model"] = model
    out["cost"] = forecast_cost(svc, account, d, out["calls"])
    return out


def forecast_cost(
    svc: Services, account: str, d: CampaignDefinition, calls: dict[str, int]
) -> dict[str, Any]:
    """The forecast's calls priced at the source number's rate (if it has one) and the
    account's billing increment."""
    rate = None
    for _, number in svc.cp.items("number", account):
        if number.get("e164") == d.source_number and number.get("rate_per_minute") is not None:
            rate = forecast.NumberRate(Decimal(str(number["rate_per_minute"])), number["currency"])
            break
    return forecast.expected_cost(calls, accounts.billing_increment(svc.cp, account), rate)


def account_lines(svc: Services, account: str) -> int | None:
    """The account's lines (SPEC 8), from its account.status record; None: no account limit."""
    return svc.cp.account_settings(account).lines


def account_load(
    svc: Services, account: str, campaign_id: str, own: int
) -> tuple[int | None, list[forecast.OtherCampaign]]:
    """The account's lines and its other running campaigns with the contacts they have left
    (from the read model), within the API's forecast size; none without a line limit (each
    campaign then keeps its own concurrency, so the others change nothing)."""
    lines = account_lines(svc, account)
    if lines is None or svc.readmodel is None:
        return lines, []
    rm = svc.readmodel
    budget = svc.config.max_forecast_contacts - own
    others: list[forecast.OtherCampaign] = []
    rows, _ = rm.page(account, "running", None, MAX_LIMIT)
    for row in rows:
        if row.campaign_id == campaign_id:
            continue
        left = [
            contact_from_record(rec)
            for rec, view in rm.all_contacts(account, row.campaign_id)
            if view.status == "pending"
        ]
        budget -= len(left)
        if budget < 0:
            break
        others.append(forecast.OtherCampaign(definition_from_record(row.definition), left))
    return lines, others


async def create_body(
    request: Request, svc: Services, account: str, tmp: Path
) -> tuple[CampaignDefinition, Path]:
    """The definition and the contact list (as a CSV file in `tmp`) of a create's body."""
    ctype = request.headers.get("content-type", "")
    # Parsing and validating run in worker threads: a big body must not hold the loop.
    if ctype.startswith("multipart/form-data"):
        text, path = await read_multipart(request, svc, tmp, want_definition=True)
        assert text is not None and path is not None
        body = await run_in_threadpool(parse_definition_text, text)
    elif ctype.startswith("application/json") or not ctype:
        path = tmp / "contacts.csv"
        raw = await request.body()
        body = await run_in_threadpool(json_create, raw, path, svc.config.max_json_contacts)
    else:
        raise ApiProblem(415, "send application/json or multipart/form-data")
    d = await run_in_threadpool(campaign_io.build_definition, svc.cp, account, body)
    names = await run_in_threadpool(campaign_io.agents_named, path)
    if names:  # issue 23: the account's agents the contacts name join the definition
        d = campaign_io.with_agents(svc.cp, account, d, names)
    return d, path


# Serialised campaign objects, keyed by campaign id: reused while the read model's row is
# the same object (it swaps in a new summary on each change), so a list page is a join.
_JSON_CACHE: dict[tuple[str, bool], tuple[CampaignSummary, bytes]] = {}


def campaign_json(row: CampaignSummary, with_rules: bool) -> bytes:
    key = (row.campaign_id, with_rules)
    hit = _JSON_CACHE.get(key)
    if hit is not None and hit[0] is row:
        return hit[1]
    data = campaign_out(row, with_rules).model_dump_json().encode()
    _JSON_CACHE[key] = (row, data)
    return data


def command(
    svc: Services,
    account: str,
    campaign_id: str,
    kind: CommandKind,
    start_at: datetime | None = None,
) -> CommandOut:
    own_campaign(svc, account, campaign_id)
    if kind in (CommandKind.start, CommandKind.schedule):
        sub = svc.cp.subscription(account)
        if not sub.active:
            raise ApiProblem(402, f"cannot {kind.value} {campaign_id}: {sub.reason}")
    client = ingest_client(svc)
    answer: Answer
    if kind == CommandKind.schedule:
        assert start_at is not None
        answer = client.schedule(campaign_id, start_at, account_id=account)
    else:
        answer = client.command(campaign_id, kind, account_id=account)
    if answer.outcome == "accepted":
        return CommandOut(accepted=True, status=answer.status, command_id=answer.command_id)
    if answer.outcome == "rejected":
        reason = answer.reason or "rejected"
        code = 402 if "subscription" in reason else 409
        raise ApiProblem(code, f"{kind.value} {campaign_id}: {reason}")
    raise ApiProblem(
        503, f"{kind.value} {campaign_id}: sent, but no answer from the engine in time"
    )


def add_rows(
    svc: Services, account: str, campaign_id: str, rows: list[dict[str, str]], row0: int
) -> ContactsAdded:
    d = read_model(svc).definition(account, campaign_id)
    region = d.default_region if d is not None else "US"
    result = ingest_client(svc).add_contacts(
        campaign_id,
        rows,
        region=region,
        account_id=account,
        agents=d.agent_ids if d is not None else None,
    )
    return ContactsAdded(
        accepted=len(result.accepted),
        rejected=len(result.rejected),
        rejected_rows=[
            Rejected(
                row=r.row + row0 if r.row is not None else None, column=r.column, reason=r.reason
            )
            for r in result.rejected[: campaign_io.MAX_REJECTED_SHOWN]
        ],
    )


ADD_CHUNK_ROWS = 20_000


def add_csv(svc: Services, account: str, campaign_id: str, path: Path) -> ContactsAdded:
    """A CSV in chunks of rows (memory stays flat); row numbers are the file's."""
    total = ContactsAdded(accepted=0, rejected=0, rejected_rows=[])
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "phone_number" not in [h.strip() for h in reader.fieldnames]:
            raise ApiProblem(
                422,
                "contacts: row 0 (header): no phone_number column",
                [ErrorItem(field="contacts", row=0, column="phone_number", message="missing")],
            )
        done = 0
        while True:
            chunk = [
                {k: v or "" for k, v in r.items() if k is not None}
                for _, r in zip(range(ADD_CHUNK_ROWS), reader, strict=False)
            ]
            if not chunk:
                break
            part = add_rows(svc, account, campaign_id, chunk, done)
            total.accepted += part.accepted
            total.rejected += part.rejected
            room = campaign_io.MAX_REJECTED_SHOWN - len(total.rejected_rows)
            total.rejected_rows += part.rejected_rows[: max(0, room)]
            done += len(chunk)
    return total


def copy_definition(
    record: dict[str, Any], campaign_id: str, name: str | None
) -> CampaignDefinition:
    """The stored definition under a new id and name, read back as the engine reads it.

    (A dump of the model re-validated gave `calling_days` and `calling_window` beside
    `calling_hours`, a definition error: every duplicate with calling hours was a 500.)
    """
    original = str(record["name"])
    copied = {
        **record,
        "campaign_id": campaign_id,
        "name": name or f"{original} (copy)"[:MAX_NAME_CHARS],
    }
    try:
        return definition_from_record(copied)
    except ValidationError as err:
        raise validation_problem(err) from None


def bucket_seconds_for(span_s: float) -> int:
    """About 30-120 points whatever the span: 1 min for minutes, hours for days."""
    for b in (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86_400):
        if span_s / b <= 120:
            return b
    return 86_400
