"""/v1/account, /v1/agents, /v1/numbers, /v1/webhooks and /v1/operator: control-plane records."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api import accounts, usage
from api.bodies import ThreadedBody
from api.deps import MAX_LIMIT, Services, account_id, bearer_key, operator, page, services
from api.models import (
    WEBHOOK_EVENT_TITLES,
    AccountCreate,
    AccountEventList,
    AccountEventOut,
    AccountOut,
    AccountSettingsOut,
    AgentCreate,
    AgentOut,
    AgentPage,
    AgentUpdate,
    Billing,
    KeyInfo,
    KeyList,
    KeyOut,
    LinesInUseOut,
    NumberCreate,
    NumberOut,
    NumberPage,
    NumberUpdate,
    SubscriptionIn,
    SubscriptionOut,
    WebhookCreate,
    WebhookDeliveries,
    WebhookDeliveryOut,
    WebhookEventList,
    WebhookEventOut,
    WebhookOut,
    WebhookPage,
)
from api.problems import ApiProblem, ErrorItem, problem_responses
from campaigns.models import CampaignDefinition, LineSettings
from dialer.targets import url_refusal

if TYPE_CHECKING:
    from api.webhooks import DeliveryRecord, Dispatcher

router = APIRouter(
    prefix="/v1", responses=problem_responses(400, 401, 413, 422, 429), route_class=ThreadedBody
)

Limit = Query(50, ge=1, le=MAX_LIMIT)
Cursor = Query(None, max_length=400)


def _subscription(svc: Services, account: str) -> SubscriptionOut:
    s = svc.cp.subscription(account)
    return SubscriptionOut(active=s.active, status=s.status, reason=s.reason, plan=s.plan)


@router.get("/account", response_model=AccountOut, tags=["account"])
async def get_account(
    account: str = Depends(account_id), svc: Services = Depends(services)
) -> AccountOut:
    body = svc.cp.get("account", account, account) or {"name": account}
    return AccountOut(
        account_id=account, name=body.get("name", account), subscription=_subscription(svc, account)
    )


@router.get("/account/billing", response_model=Billing, tags=["account"])
def get_billing(account: str = Depends(account_id), svc: Services = Depends(services)) -> Billing:
    return Billing(billing_increment_seconds=accounts.billing_increment(svc.cp, account))  # type: ignore[arg-type]


@router.put("/account/billing", response_model=Billing, tags=["account"])
def put_billing(
    body: Billing, account: str = Depends(account_id), svc: Services = Depends(services)
) -> Billing:
    """Set how the account's calls are billed (1, 6 or 60 s increments; else a 422 naming
    `billing_increment_seconds`). Calls created from now on are priced with it."""
    accounts.set_billing_increment(svc.cp, account, body.billing_increment_seconds)
    return body


# ---- the account's own API keys ---------------------------------------------------------
# An account key manages its own account's keys only: the account comes from the bearer
# key, never from the path, so no other account's key can be named. Creating accounts and
# setting subscriptions stay the operator's.


def _ms_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


@router.get("/account/keys", response_model=KeyList, tags=["account"])
def list_keys(account: str = Depends(account_id), svc: Services = Depends(services)) -> KeyList:
    return KeyList(
        items=[
            KeyInfo(
                key_id=k.key_id,
                prefix=k.prefix,
                created_at=_ms_iso(k.created_at_ms),
                revoked_at=_ms_iso(k.revoked_at_ms),
            )
            for k in accounts.keys(svc.cp, account)
        ]
    )


@router.post("/account/keys", response_model=KeyOut, status_code=201, tags=["account"])
def create_key(account: str = Depends(account_id), svc: Services = Depends(services)) -> KeyOut:
    """A new key for the caller's account; the key is in this answer only (at the account's
    rate of creates: each key grows the account's record)."""
    svc.take(account, "keys created", svc.config.limits.creates)
    new = accounts.add_key(svc.cp, account)
    return KeyOut(account_id=new.account_id, key_id=new.key_id, key=new.key)


@router.delete(
    "/account/keys/{key_id}",
    status_code=204,
    tags=["account"],
    responses=problem_responses(404, 409),
)
def revoke_own_key(
    key_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> Response:
    """Revoke one of the caller's account's keys; never its last live key (the account
    would be locked out until an operator adds one)."""
    live = [k.key_id for k in accounts.keys(svc.cp, account) if k.revoked_at_ms is None]
    if key_id not in live:
        raise ApiProblem(404, f"this account has no live key {key_id!r}")
    if len(live) == 1:
        raise ApiProblem(409, "that is the account's last live key: create another one first")
    accounts.revoke_key(svc.cp, account, key_id)
    return Response(status_code=204)


# ---- the account's settings (SPEC 8): lines, inbound cut-off, audit -----------------------


@router.get("/account/settings", response_model=AccountSettingsOut, tags=["account"])
def get_settings(
    account: str = Depends(account_id), svc: Services = Depends(services)
) -> AccountSettingsOut:
    """The account's lines and inbound cut-off, and the lines in use now (from the read
    model: calls in flight by campaign, inbound calls in progress)."""
    if svc.readmodel is None:
        raise ApiProblem(503, "the read model is not running on this replica")
    found = svc.cp.account_settings(account)
    used = svc.readmodel.lines_in_use(
        account, int(found.inbound_max_us // 1000), int(time.time() * 1000)
    )
    return AccountSettingsOut(
        lines=found.lines,
        inbound_max_minutes=found.inbound_max_minutes,
        in_use=LinesInUseOut(inbound=used.inbound, campaigns=used.campaigns),
    )


@router.put("/account/settings", response_model=AccountSettingsOut, tags=["account"])
def put_settings(
    body: LineSettings,
    request: Request,
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> AccountSettingsOut:
    """Set the caller's account's lines (null: no account limit) and inbound cut-off; the
    engine applies them at its next tick. The change is audited in the account's events,
    naming the key's prefix."""
    svc.take(account, "settings changes", svc.config.limits.creates)
    key = bearer_key(request) or ""
    accounts.change_settings(svc.cp, account, body, accounts.key_prefix(svc.cp, key) or "?")
    return get_settings(account, svc)


@router.get("/account/events", response_model=AccountEventList, tags=["account"])
def list_account_events(
    account: str = Depends(account_id), svc: Services = Depends(services)
) -> AccountEventList:
    """The account's own events, newest first: who changed its settings, from what to what."""
    return AccountEventList(
        items=[
            AccountEventOut(
                type=e["type"], at=_ms_iso(e.get("at_ms")), by=e["by"], changes=e["changes"]
            )
            for e in accounts.events(svc.cp, account)
        ]
    )


# ---- agents -------------------------------------------------------------------------------


def _not_found(what: str, rid: str) -> ApiProblem:
    return ApiProblem(404, f"no {what} {rid!r}")


_REMOVE_LATER = "it can be removed once no campaign that may still call uses it (cancel or wait)"


def _refuse_in_use(
    svc: Services,
    account: str,
    uses: Callable[[CampaignDefinition], bool],
    what: str,
    change: str,
) -> None:
    """409 naming the campaigns that may still call with the record (api.usage says why)."""
    if svc.readmodel is None:
        raise ApiProblem(503, "the read model is not running on this replica")
    found = usage.users(usage.holding(svc.readmodel, account), uses)
    if found:
        raise ApiProblem(409, usage.refusal(what, found, change))


@router.get("/agents", response_model=AgentPage, tags=["agents"])
async def list_agents(
    cursor: str | None = Cursor,
    limit: int = Limit,
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> AgentPage:
    ids, nxt = page(svc.cp.ids("agent", account), cursor, limit)
    items = [svc.cp.get("agent", account, i) for i in ids]
    return AgentPage(items=[AgentOut.of(b) for b in items if b], next_cursor=nxt)


@router.post(
    "/agents",
    response_model=AgentOut,
    status_code=201,
    tags=["agents"],
    responses=problem_responses(409),
)
def create_agent(
    body: AgentCreate, account: str = Depends(account_id), svc: Services = Depends(services)
) -> AgentOut:
    svc.take(account, "agents created", svc.config.limits.creates)
    if svc.cp.get("agent", account, body.agent_id) is not None:
        raise ApiProblem(
            409,
            f"agent {body.agent_id!r} exists; PUT /v1/agents/{body.agent_id} to change it",
            [ErrorItem(field="agent_id", message="already exists")],
        )
    record = body.model_dump()
    svc.cp.put("agent", account, body.agent_id, record)
    return AgentOut.of(record)


@router.get(
    "/agents/{agent_id}", response_model=AgentOut, tags=["agents"], responses=problem_responses(404)
)
async def get_agent(
    agent_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> AgentOut:
    record = svc.cp.get("agent", account, agent_id)
    if record is None:
        raise _not_found("agent", agent_id)
    return AgentOut.of(record)


@router.put(
    "/agents/{agent_id}",
    response_model=AgentOut,
    tags=["agents"],
    responses=problem_responses(404, 409),
)
def put_agent(
    agent_id: str,
    body: AgentUpdate,
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> AgentOut:
    before = svc.cp.get("agent", account, agent_id)
    if before is None:
        raise _not_found("agent", agent_id)
    if body.prompt != before.get("prompt", ""):
        _refuse_in_use(
            svc,
            account,
            usage.uses_agent(agent_id),
            f"agent {agent_id!r}",
            "its prompt cannot change while a campaign that may still call uses it (each"
            " keeps the prompt it was created with); the name can",
        )
    record = {"agent_id": agent_id, **body.model_dump()}
    svc.cp.put("agent", account, agent_id, record)
    return AgentOut.of(record)


@router.delete(
    "/agents/{agent_id}", status_code=204, tags=["agents"], responses=problem_responses(404, 409)
)
def delete_agent(
    agent_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> Response:
    if svc.cp.get("agent", account, agent_id) is None:
        raise _not_found("agent", agent_id)
    _refuse_in_use(svc, account, usage.uses_agent(agent_id), f"agent {agent_id!r}", _REMOVE_LATER)
    svc.cp.put("agent", account, agent_id, None)
    return Response(status_code=204)


# ---- numbers ------------------------------------------------------------------------------


@router.get("/numbers", response_model=NumberPage, tags=["numbers"])
async def list_numbers(
    cursor: str | None = Cursor,
    limit: int = Limit,
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> NumberPage:
    ids, nxt = page(svc.cp.ids("number", account), cursor, limit)
    items = [svc.cp.get("number", account, i) for i in ids]
    return NumberPage(items=[NumberOut(**b) for b in items if b], next_cursor=nxt)


@router.post(
    "/numbers",
    response_model=NumberOut,
    status_code=201,
    tags=["numbers"],
    responses=problem_responses(409),
)
def create_number(
    body: NumberCreate, account: str = Depends(account_id), svc: Services = Depends(services)
) -> NumberOut:
    svc.take(account, "numbers created", svc.config.limits.creates)
    if svc.cp.get("number", account, body.number_id) is not None:
        raise ApiProblem(
            409,
            f"number {body.number_id!r} exists; PUT /v1/numbers/{body.number_id} to change it",
            [ErrorItem(field="number_id", message="already exists")],
        )
    record = body.model_dump(mode="json")  # the rate as a decimal string, never a float
    svc.cp.put("number", account, body.number_id, record)
    return NumberOut(**record)


@router.get(
    "/numbers/{number_id}",
    response_model=NumberOut,
    tags=["numbers"],
    responses=problem_responses(404),
)
async def get_number(
    number_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> NumberOut:
    record = svc.cp.get("number", account, number_id)
    if record is None:
        raise _not_found("number", number_id)
    return NumberOut(**record)


@router.put(
    "/numbers/{number_id}",
    response_model=NumberOut,
    tags=["numbers"],
    responses=problem_responses(404, 409),
)
def put_number(
    number_id: str,
    body: NumberUpdate,
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> NumberOut:
    before = svc.cp.get("number", account, number_id)
    if before is None:
        raise _not_found("number", number_id)
    if body.e164 != before["e164"]:
        _refuse_in_use(
            svc,
            account,
            usage.uses_number(before["e164"]),
            f"number {number_id!r}",
            "its E.164 cannot change while a campaign that may still call uses it; the label,"
            " caller-ID use and rate can",
        )
    record = {"number_id": number_id, **body.model_dump(mode="json")}
    svc.cp.put("number", account, number_id, record)
    return NumberOut(**record)


@router.delete(
    "/numbers/{number_id}", status_code=204, tags=["numbers"], responses=problem_responses(404, 409)
)
def delete_number(
    number_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> Response:
    before = svc.cp.get("number", account, number_id)
    if before is None:
        raise _not_found("number", number_id)
    _refuse_in_use(
        svc, account, usage.uses_number(before["e164"]), f"number {number_id!r}", _REMOVE_LATER
    )
    svc.cp.put("number", account, number_id, None)
    return Response(status_code=204)


# ---- webhooks -----------------------------------------------------------------------------


def _webhook_out(body: dict[str, Any], secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        webhook_id=body["webhook_id"],
        url=body["url"],
        events=body["events"],
        created_at=body["created_at"],
        secret=secret,
    )


@router.get("/webhook-events", response_model=WebhookEventList, tags=["webhooks"])
async def list_webhook_events(account: str = Depends(account_id)) -> WebhookEventList:
    """The events an endpoint may subscribe to (`events` of POST /v1/webhooks)."""
    return WebhookEventList(
        items=[WebhookEventOut(name=n, description=d) for n, d in WEBHOOK_EVENT_TITLES.items()]
    )


@router.get("/webhooks", response_model=WebhookPage, tags=["webhooks"])
async def list_webhooks(
    cursor: str | None = Cursor,
    limit: int = Limit,
    account: str = Depends(account_id),
    svc: Services = Depends(services),
) -> WebhookPage:
    ids, nxt = page(svc.cp.ids("webhook", account), cursor, limit)
    items = [svc.cp.get("webhook", account, i) for i in ids]
    return WebhookPage(items=[_webhook_out(b) for b in items if b], next_cursor=nxt)


@router.post(
    "/webhooks",
    response_model=WebhookOut,
    status_code=201,
    tags=["webhooks"],
    responses=problem_responses(409),
)
def create_webhook(
    body: WebhookCreate, account: str = Depends(account_id), svc: Services = Depends(services)
) -> WebhookOut:
    refusal = url_refusal(body.url, svc.config.webhook_allow_loopback)
    if refusal is not None:  # plainly internal; every connection is checked too (dialer.targets)
        raise ApiProblem(
            422, f"webhook url refused: {refusal}", [ErrorItem(field="url", message=refusal)]
        )
    svc.take(account, "webhooks created", svc.config.limits.creates)
    most = svc.config.limits.max_webhooks
    if len(svc.cp.ids("webhook", account)) >= most:
        raise ApiProblem(
            409, f"the account has {most} webhooks, the most it may have: delete one first"
        )
    wid = body.webhook_id or "wh-" + secrets.token_hex(6)
    if svc.cp.get("webhook", account, wid) is not None:
        raise ApiProblem(
            409,
            f"webhook {wid!r} exists",
            [ErrorItem(field="webhook_id", message="already exists")],
        )
    secret = "whsec_" + secrets.token_urlsafe(32)
    record = {
        "webhook_id": wid,
        "url": body.url,
        "events": body.events,
        "secret": secret,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "created_at_ms": int(time.time() * 1000),
    }
    svc.cp.put("webhook", account, wid, record)
    return _webhook_out(record, secret)


@router.get(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    tags=["webhooks"],
    responses=problem_responses(404),
)
async def get_webhook(
    webhook_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> WebhookOut:
    record = svc.cp.get("webhook", account, webhook_id)
    if record is None:
        raise _not_found("webhook", webhook_id)
    return _webhook_out(record)


@router.delete(
    "/webhooks/{webhook_id}", status_code=204, tags=["webhooks"], responses=problem_responses(404)
)
def delete_webhook(
    webhook_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> Response:
    if svc.cp.get("webhook", account, webhook_id) is None:
        raise _not_found("webhook", webhook_id)
    svc.cp.put("webhook", account, webhook_id, None)
    if svc.dispatcher is not None:
        svc.dispatcher.forget(account, webhook_id)
    return Response(status_code=204)


def _dispatcher(svc: Services) -> Dispatcher:
    if svc.dispatcher is None:
        raise ApiProblem(503, "webhooks are not dispatched by this replica")
    return svc.dispatcher


def _delivery_out(r: DeliveryRecord) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        event_id=r.event_id,
        type=r.event_type,
        at=_ms_iso(r.at_ms) or "",
        delivered=r.ok,
        status=r.status,
        attempts=r.attempts,
        error=r.error,
    )


@router.post(
    "/webhooks/{webhook_id}/test",
    response_model=WebhookDeliveryOut,
    tags=["webhooks"],
    responses=problem_responses(404, 503),
)
def test_webhook(
    webhook_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> WebhookDeliveryOut:
    """Send a signed `webhook.test` event to the endpoint now (one attempt) and answer how
    it went; at the account's rate of creates (each test is a request to a third party)."""
    hook = svc.cp.get("webhook", account, webhook_id)
    if hook is None:
        raise _not_found("webhook", webhook_id)
    dispatcher = _dispatcher(svc)
    svc.take(account, "webhook tests", svc.config.limits.creates)
    return _delivery_out(dispatcher.send_test(account, hook))


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=WebhookDeliveries,
    tags=["webhooks"],
    responses=problem_responses(404, 503),
)
def webhook_deliveries(
    webhook_id: str, account: str = Depends(account_id), svc: Services = Depends(services)
) -> WebhookDeliveries:
    if svc.cp.get("webhook", account, webhook_id) is None:
        raise _not_found("webhook", webhook_id)
    records = _dispatcher(svc).deliveries(account, webhook_id)
    return WebhookDeliveries(items=[_delivery_out(r) for r in records])


# ---- operator -----------------------------------------------------------------------------

ops = APIRouter(
    route_class=ThreadedBody,
    prefix="/v1/operator",
    tags=["operator"],
    dependencies=[Depends(operator)],
    responses=problem_responses(400, 401, 404, 409, 413, 422),
)


def _account_error(err: accounts.AccountError) -> ApiProblem:
    msg = str(err)
    return ApiProblem(404 if msg.startswith("no account") else 409, msg)


@ops.post("/accounts", response_model=KeyOut, status_code=201)
def op_create_account(body: AccountCreate, svc: Services = Depends(services)) -> KeyOut:
    try:
        new = accounts.create_account(svc.cp, body.account_id, body.name)
    except accounts.AccountError as err:
        raise _account_error(err) from None
    if body.active:
        svc.cp.set_subscription(body.account_id, True)
    return KeyOut(account_id=new.account_id, key_id=new.key_id, key=new.key)


@ops.put("/accounts/{account}/subscription", response_model=SubscriptionOut)
async def op_subscription(
    account: str, body: SubscriptionIn, svc: Services = Depends(services)
) -> SubscriptionOut:
    if svc.cp.get("account", account, account) is None:
        raise ApiProblem(404, f"no account {account!r}")
    await run_in_threadpool(svc.cp.set_subscription, account, body.active, body.plan)
    return _subscription(svc, account)


@ops.post("/accounts/{account}/keys", response_model=KeyOut, status_code=201)
def op_add_key(account: str, svc: Services = Depends(services)) -> KeyOut:
    try:
        new = accounts.add_key(svc.cp, account)
    except accounts.AccountError as err:
        raise _account_error(err) from None
    return KeyOut(account_id=new.account_id, key_id=new.key_id, key=new.key)


@ops.delete("/accounts/{account}/keys/{key_id}", status_code=204)
def op_revoke_key(account: str, key_id: str, svc: Services = Depends(services)) -> Response:
    try:
        accounts.revoke_key(svc.cp, account, key_id)
    except accounts.AccountError as err:
        raise ApiProblem(404, str(err)) from None
    return Response(status_code=204)
