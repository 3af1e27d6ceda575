"""RFC 9457 problem details: every error is application/problem+json naming what and where."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.exceptions import ApiError

PROBLEM = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}


class ErrorItem(BaseModel):
    field: str | None = None
    row: int | None = None
    column: str | None = None
    message: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ErrorItem] = []


class ApiProblem(ApiError):
    """Raised anywhere in a handler; answered as a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[ErrorItem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail.splitlines()[0] if detail else TITLES.get(status, "Error")
        self.errors = errors or []
        self.headers = headers


MAX_ERRORS = 50  # a problem document names at most these (api.bodies keeps as many)


def problem_response(
    status: int,
    detail: str,
    errors: list[ErrorItem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The answer; with more than MAX_ERRORS errors, the first ones and how many there were."""
    errors = errors or []
    if len(errors) > MAX_ERRORS:
        detail = f"{detail} ({len(errors)} errors; the first {MAX_ERRORS} are listed)"
        errors = errors[:MAX_ERRORS]
    body = Problem(
        type=f"https://campaignflow.dev/problems/{status}",
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        errors=errors or [],
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, media_type=PROBLEM, headers=headers
    )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "(body)"


def definition_errors(text: str, prefix: str = "definition") -> list[ErrorItem]:
    """`campaigns.models` error lines ('field.path: rule') as error items."""
    items = []
    for line in text.splitlines():
        path, sep, msg = line.partition(": ")
        if not sep:
            items.append(ErrorItem(field=prefix, message=line))
            continue
        path = path.rsplit(" ", 1)[-1]  # drop a 'campaign.yaml:' style source
        field = prefix if path == "(top)" else f"{prefix}.{path}"
        items.append(ErrorItem(field=field, message=msg))
    return items


async def on_api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(exc.status, exc.detail, exc.errors, exc.headers)


async def on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    found = list(exc.errors())
    body_errors = getattr(request.state, "body_errors", None)  # api.bodies validated it
    if body_errors is not None:
        found = [e for e in found if tuple(e.get("loc", ()))[:1] != ("body",)] + body_errors
    errors = [
        ErrorItem(field=_field(e.get("loc", ())), message=str(e.get("msg", "invalid")))
        for e in found[:MAX_ERRORS]
    ]
    first = errors[0] if errors else None
    detail = f"{first.field}: {first.message}" if first else "invalid request"
    return problem_response(422, detail, errors)


async def on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
    return problem_response(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(500, "internal error; see the API log")


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for problem answers."""
    return {
        c: {"model": Problem, "content": {PROBLEM: {}}, "description": TITLES.get(c, "Error")}
        for c in codes
    }
