"""JSON request bodies parsed and validated off the event loop, with bounded error lists.

FastAPI parses and validates a body on the event loop: a large body (a 2 MB list of
700,000 items) held every other request of the process, other accounts' included, for
the whole parse. `ThreadedBody` routes parse and validate it in a worker thread first
and hand FastAPI the validated model (which it then takes as it is).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from api.problems import MAX_ERRORS


def validation_errors(err: ValidationError, loc_prefix: tuple[str, ...] = ()) -> list[Any]:
    """The first MAX_ERRORS errors, without the input values they quote (a body could
    quote itself back a hundred-fold)."""
    errors = err.errors(include_url=False, include_input=False, include_context=False)
    return [{**e, "loc": (*loc_prefix, *e["loc"])} for e in errors[:MAX_ERRORS]]


def parse(adapter: TypeAdapter[Any], raw: bytes) -> Any:
    """JSON to the body's type as FastAPI does it (json.loads, then the Python validator).

    Not `validate_json`: that reads a whole 700,000-item list before the list's length is
    checked, holding the interpreter for the while (the loop's thread included); parsed
    first, the list's bound refuses it at once.
    """
    return adapter.validate_python(json.loads(raw))


def not_json(err: ValueError) -> dict[str, Any]:
    """FastAPI's own error for a body that is not JSON."""
    pos = err.pos if isinstance(err, json.JSONDecodeError) else 0
    return {"type": "json_invalid", "loc": ("body", pos), "msg": "JSON decode error"}


def is_json(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


class ThreadedBody(APIRoute):
    """A route whose JSON body (one model, not embedded) is validated in a worker thread."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        info = self.body_field.field_info if self.body_field is not None else None
        # (an optional body would take the None that a refused body leaves: not threaded)
        if info is None or info.annotation is None or self._embed_body_fields:
            return handler
        if not info.is_required():
            return handler
        adapter: TypeAdapter[Any] = TypeAdapter(info.annotation)

        async def threaded(request: Request) -> Response:
            if is_json(request):
                raw = await request.body()
                if raw:
                    try:
                        # FastAPI reads the body through request.json(): it gets the model,
                        # which it validates again at no cost (an instance of its own type).
                        request._json = await run_in_threadpool(parse, adapter, raw)
                    except ValidationError as err:
                        # Answered by problems.on_validation once FastAPI finds no body; the
                        # route's dependencies (the key: 401) still come first.
                        request.state.body_errors = validation_errors(err, ("body",))
                        request._json = None
                    except ValueError as err:  # not JSON (or not UTF-8)
                        request.state.body_errors = [not_json(err)]
                        request._json = None
            return await handler(request)

        return threaded
