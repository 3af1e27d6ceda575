"""/v1/dnc (an account's do-not-call list) and /v1/operator/dnc (the global list).

The same five operations on both: list, add, remove, import a file, export. An account
key reaches only its own account's list; the global list (which every account's
campaigns obey) needs the operator key. Writes go through `ingest.dnc`, the one write
path `campaignflow dnc` uses too (records on campaign.dnc, normalised to E.164; an
import streams its file line by line and reports rejected lines by number); reads come
from the read model, which folds campaign.dnc into sorted keys, so a page is a bounded
range scan. A write answers once this replica's read model has folded it.

Numbers are shown in full (E.164): the list is the caller's own data, and an operator
managing it must see what is on it. Only the API's own logs never show them (the
access log is off; the route logs nothing).
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api import campaign_io
from api.bodies import ThreadedBody
from api.deps import MAX_LIMIT, Services, account_id, decode_cursor, encode_cursor, operator
from api.deps import services as services_dep
from api.models import (
    REGION,
    DncAdded,
    DncEntryOut,
    DncImportOut,
    DncIn,
    DncPage,
    DncRejectedLine,
)
from api.problems import ApiProblem, ErrorItem, problem_responses
from api.readmodel import DncView, ReadModel
from campaigns.csvsafe import neutralise
from ingest.dnc import DncWriter, Scope, change, import_file, normalise, region_code
from topics import catalogue
from topics.producer import DeliveryError

SEEN_TIMEOUT_S = 10.0  # a write answers once the read model folded it (or after this)
MAX_REJECTED_SHOWN = 1000
COPY_CHUNK = 1 << 20
IMPORT_CONTENT_TYPES = ("text/plain", "text/csv", "application/octet-stream")
EXPORT_COLUMNS = ("number", "added_at")
# Paths whose text body is a file upload (the upload size limit, not the JSON one).
RAW_UPLOAD_PATHS = frozenset({"/v1/dnc/import", "/v1/operator/dnc/import"})

IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


async def account_scope(account: str = Depends(account_id)) -> Scope:
    return Scope(account)


async def global_scope(_: None = Depends(operator)) -> Scope:
    return Scope(None)


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _out(v: DncView) -> DncEntryOut:
    return DncEntryOut(number=v.number, added_at=_iso(v.updated_at_ms))


def _rm(svc: Services) -> ReadModel:
    if svc.readmodel is None:
        raise ApiProblem(503, "the read model is not running on this replica")
    return svc.readmodel


def _topic(svc: Services) -> str:
    return svc.config.topics.name(catalogue.DNC)


def _region(region: str) -> str:
    try:
        return region_code(region)
    except ValueError as err:
        raise ApiProblem(
            422, f"region: {err}", [ErrorItem(field="region", message=str(err))]
        ) from None


def _search_prefix(q: str | None) -> str:
    """A search's E.164 prefix ("+1212" for "1 (212)"); 422 when it holds other than digits."""
    if not q or not q.strip():
        return ""
    digits = re.sub(r"[\s().+-]", "", q)
    if not digits.isascii() or not digits.isdigit():
        raise ApiProblem(
            422,
            "q: search by the digits a number starts with (country code first)",
            [ErrorItem(field="q", message="digits only (spaces, dashes and + are ignored)")],
        )
    return "+" + digits


def _broker_problem(err: Exception) -> ApiProblem:
    return ApiProblem(503, f"the broker did not acknowledge the change: {err}")


def _wait_seen(svc: Services, writer: DncWriter) -> None:
    written = {(writer.topic, p): o for p, o in writer.written().items()}
    rm = _rm(svc)
    rm.wait_for(lambda: rm.has_reached(written), SEEN_TIMEOUT_S)


def _change(svc: Services, scope: Scope, numbers: list[str], remove: bool, at_ms: int) -> None:
    try:
        writer = change(
            DncWriter(scope, svc.config.kafka, topic=_topic(svc)),
            numbers,
            remove=remove,
            updated_at_ms=at_ms,
            timeout_seconds=svc.config.command_timeout_s,
        )
    except (DeliveryError, KafkaException) as err:
        raise _broker_problem(err) from None
    _wait_seen(svc, writer)


def _import(svc: Services, scope: Scope, region: str, path: Path) -> DncImportOut:
    writer = DncWriter(scope, svc.config.kafka, topic=_topic(svc))
    try:
        with path.open("rb") as stream:
            report = import_file(
                stream, scope, region, keep_rejected=MAX_REJECTED_SHOWN, writer=writer
            )
    except (DeliveryError, KafkaException) as err:
        raise _broker_problem(err) from None
    _wait_seen(svc, writer)
    return DncImportOut(
        lines=report.lines,
        accepted=report.accepted,
        skipped=report.skipped,
        rejected=report.rejected_count,
        rejected_lines=[
            DncRejectedLine(line=r.line, text=r.text, reason=r.reason) for r in report.rejected
        ],
    )


async def _spool(request: Request, path: Path) -> None:
    """The uploaded file on disk, chunk by chunk (memory stays flat at any size)."""
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=2)
        try:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise ApiProblem(
                    422,
                    "file: a multipart upload needs a file part named 'file'",
                    [ErrorItem(field="file", message="missing")],
                )
            with path.open("wb") as out:
                while chunk := await part.read(COPY_CHUNK):
                    out.write(chunk)
        finally:
            await form.close()
        return
    if not ctype.startswith(IMPORT_CONTENT_TYPES):
        raise ApiProblem(
            415, "send the file as text/plain, text/csv or multipart/form-data (part 'file')"
        )
    with path.open("wb") as out:
        async for chunk in request.stream():
            out.write(chunk)


def _valid_numbers(body: DncIn) -> list[str]:
    """The body's numbers in E.164, once each; 422 naming every entry that is no number
    (nothing is written then: the caller fixes the entry and sends again)."""
    region = _region(body.region)
    numbers: list[str] = []
    errors: list[ErrorItem] = []
    for i, raw in enumerate(body.numbers):
        number = normalise(raw, region)
        if number is None:
            errors.append(
                ErrorItem(
                    field=f"numbers.{i}",
                    message=f"not a valid phone number (region {region}): {raw!r}",
                )
            )
        elif number not in numbers:
            numbers.append(number)
    if errors:
        raise ApiProblem(422, f"{errors[0].field}: {errors[0].message}", errors)
    return numbers


def _export_lines(rm: ReadModel, account: str | None) -> Iterator[bytes]:
    """The list as CSV, 1,000 rows a chunk (CSV-injection safe: `neutralise`)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(EXPORT_COLUMNS)
    for n, v in enumerate(rm.dnc_all(account), 1):
        w.writerow([neutralise(v.number), neutralise(_iso(v.updated_at_ms))])
        if n % 1000 == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


# Each `_route_*` adds one operation to a router, on the list its `scoped` dependency
# names: the account's (/v1/dnc) or the global one (/v1/operator/dnc).


def _route_list(router: APIRouter, scoped: Any, what: str) -> None:
    @router.get("", response_model=DncPage, name=f"list_{what}")
    async def list_numbers(
        cursor: str | None = Query(None, max_length=400),
        limit: int = Query(50, ge=1, le=MAX_LIMIT),
        q: str | None = Query(
            None,
            max_length=40,
            description="Only numbers that start with these digits (E.164, country code "
            "first: 1212 finds +1 212 ...); spaces, dashes and a leading + are ignored.",
        ),
        scope: Scope = scoped,
        svc: Services = Depends(services_dep),
    ) -> DncPage:
        starts = _search_prefix(q)
        rows, last = _rm(svc).dnc_page(scope.account_id, decode_cursor(cursor), limit, starts)
        return DncPage(
            items=[_out(v) for v in rows],
            next_cursor=encode_cursor(last) if last is not None else None,
        )


def _route_add(router: APIRouter, scoped: Any, what: str) -> None:
    @router.post(
        "",
        response_model=DncAdded,
        status_code=201,
        name=f"add_{what}",
        responses=problem_responses(503),
    )
    async def add_numbers(
        body: DncIn, scope: Scope = scoped, svc: Services = Depends(services_dep)
    ) -> DncAdded:
        numbers = _valid_numbers(body)
        at_ms = int(time.time() * 1000)
        await run_in_threadpool(_change, svc, scope, numbers, False, at_ms)
        return DncAdded(items=[_out(DncView(n, at_ms)) for n in numbers])


def _route_remove(router: APIRouter, scoped: Any, what: str) -> None:
    @router.delete(
        "/{number}",
        status_code=204,
        name=f"remove_{what}",
        responses=problem_responses(404, 503),
    )
    async def remove_number(
        number: str,
        region: str = Query("US", pattern=REGION),
        scope: Scope = scoped,
        svc: Services = Depends(services_dep),
    ) -> Response:
        e164 = normalise(number, _region(region)) if len(number) <= 64 else None
        if e164 is None:
            raise ApiProblem(
                422,
                f"number: not a valid phone number (region {region.upper()})",
                [ErrorItem(field="number", message="not a valid phone number")],
            )
        if _rm(svc).dnc_entry(scope.account_id, e164) is None:
            raise ApiProblem(404, f"{e164} is not on {scope}")
        await run_in_threadpool(_change, svc, scope, [e164], True, 0)
        return Response(status_code=204)


def _route_import(router: APIRouter, scoped: Any, what: str) -> None:
    @router.post(
        "/import",
        response_model=DncImportOut,
        openapi_extra=IMPORT_BODY,
        name=f"import_{what}",
        responses=problem_responses(415, 503),
    )
    async def import_numbers(
        request: Request,
        region: str = Query("US", pattern=REGION),
        scope: Scope = scoped,
        svc: Services = Depends(services_dep),
    ) -> DncImportOut:
        """One number a line (a CSV counts by its first column; a header, blank lines and
        `#` comments are skipped), as `campaignflow dnc import` reads it."""
        code = _region(region)
        with campaign_io.scratch_dir(svc.config.state_dir / "uploads") as tmp:
            path = Path(tmp) / "numbers.txt"
            await _spool(request, path)
            return await run_in_threadpool(_import, svc, scope, code, path)


def _route_export(router: APIRouter, scoped: Any, what: str) -> None:
    @router.get(
        "/export.csv",
        response_class=StreamingResponse,
        name=f"export_{what}",
        responses={200: {"content": {"text/csv": {}}, "description": "number,added_at"}},
    )
    async def export_numbers(
        scope: Scope = scoped, svc: Services = Depends(services_dep)
    ) -> StreamingResponse:
        """The list by number, as import reads it back (CSV-injection safe: a cell that
        starts with + is written '+..., which the number parser skips)."""
        name = "dnc-global" if scope.account_id is None else f"dnc-{scope.account_id}"
        return StreamingResponse(
            _export_lines(_rm(svc), scope.account_id),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )


def _register(router: APIRouter, scope_of: Callable[..., Any], what: str) -> None:
    """The five operations on `router`, on the list `scope_of` names."""
    scoped = Depends(scope_of)
    for route in (_route_list, _route_add, _route_remove, _route_import, _route_export):
        route(router, scoped, what)


router = APIRouter(
    prefix="/v1/dnc",
    tags=["dnc"],
    responses=problem_responses(400, 401, 413, 422),
    route_class=ThreadedBody,
)
ops = APIRouter(
    route_class=ThreadedBody,
    prefix="/v1/operator/dnc",
    tags=["operator"],
    responses=problem_responses(400, 401, 413, 422),
)
_register(router, account_scope, "account_dnc")
_register(ops, global_scope, "global_dnc")
