"""What every route needs: the services of this process, and the caller's account."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import accounts
from api.config import ApiConfig
from api.controlplane import ControlPlane
from api.problems import ApiProblem

if TYPE_CHECKING:
    from api.readmodel import ReadModel
    from api.webhooks import Dispatcher
    from ingest.api import CampaignClient

bearer = HTTPBearer(auto_error=False, description="An account's API key (or the operator key).")

MAX_LIMIT = 500


@dataclass
class Services:
    config: ApiConfig
    cp: ControlPlane
    operator_key: str | None = None
    readmodel: ReadModel | None = None
    client: CampaignClient | None = None
    dispatcher: Dispatcher | None = None
    extra: dict[str, Any] = field(default_factory=dict)


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def account_id(
    creds: HTTPAuthorizationCredentials | None = Depends(bearer),
    svc: Services = Depends(services),
) -> str:
    """The account of the bearer key; 401 without a live key (async: a plain def would
    run in the thread pool, two thread hops on every request)."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise _unauthorized("missing Authorization: Bearer <api key>")
    owner = accounts.authenticate(svc.cp, creds.credentials.strip())
    if owner is None:
        raise _unauthorized("unknown or revoked API key")
    return owner


async def operator(
    creds: HTTPAuthorizationCredentials | None = Depends(bearer),
    svc: Services = Depends(services),
) -> None:
    if creds is None or not accounts.is_operator(svc.operator_key, creds.credentials.strip()):
        raise _unauthorized("the operator key is required")


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise ApiProblem(422, "cursor: not a cursor this API gave") from None


def page(ids: list[str], cursor: str | None, limit: int) -> tuple[list[str], str | None]:
    """Sorted ids after the cursor, at most `limit`, and the next cursor."""
    after = decode_cursor(cursor)
    import bisect

    start = bisect.bisect_right(ids, after) if after is not None else 0
    chosen = ids[start : start + limit]
    more = start + limit < len(ids)
    return chosen, encode_cursor(chosen[-1]) if more and chosen else None
