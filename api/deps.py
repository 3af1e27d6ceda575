"""What every route needs: the services of this process, and the caller's account."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import accounts
from api.config import ApiSettings
from api.controlplane import ControlPlane
from api.exceptions import RateLimited
from api.problems import ApiProblem
from api.ratelimit import Limiter, Rate

if TYPE_CHECKING:
    from api.readmodel import ReadModel
    from api.webhooks import Dispatcher
    from ingest.api import CampaignClient

bearer = HTTPBearer(auto_error=False, description="An account's API key (or the operator key).")

MAX_LIMIT = 500


@dataclass
class Services:
    config: ApiSettings
    cp: ControlPlane
    operator_key: str | None = None
    readmodel: ReadModel | None = None
    client: CampaignClient | None = None
    dispatcher: Dispatcher | None = None
    limiter: Limiter = field(default_factory=Limiter)
    extra: dict[str, Any] = field(default_factory=dict)

    def take(self, account: str, what: str, rate: Rate, cost: float = 1.0) -> None:
        """Spend from the account's `what` allowance; 429 with Retry-After when it is used up."""
        try:
            self.limiter.take(account, what, rate, cost)
        except RateLimited as err:
            raise ApiProblem(
                429, str(err), headers={"Retry-After": str(err.retry_after_s)}
            ) from None


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(401, detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_key(request: Request) -> str | None:
    """The key of an `Authorization: Bearer <key>` header (as HTTPBearer reads it), or None."""
    scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


async def account_id(request: Request) -> str:
    """The account of the bearer key; 401 without a live key.

    It reads the header itself rather than through `bearer` and `services`: every
    sub-dependency is solved again on every request, and this one runs on every /v1
    call (`declare_bearer` puts the scheme in the OpenAPI document instead). Async: a
    plain def would run in the thread pool, two thread hops on every request. The key is
    checked against the control plane's index on each request (one SHA-256, one dict
    lookup), so a revoked key stops working as soon as the revocation is applied.
    """
    key = bearer_key(request)
    if key is None:
        raise _unauthorized("missing Authorization: Bearer <api key>")
    svc: Services = request.app.state.services
    owner = accounts.authenticate(svc.cp, key)
    if owner is None:
        raise _unauthorized("unknown or revoked API key")
    return owner


def declare_bearer(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the bearer scheme on every /v1 operation (as FastAPI
    writes it for a `bearer` dependency, which `account_id` no longer is)."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["HTTPBearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": bearer.model.description,
    }
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for operation in operations.values():
            operation.setdefault("security", [{"HTTPBearer": []}])
    return schema


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
