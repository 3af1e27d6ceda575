"""api.bodies: a route's JSON body is validated in a worker thread, never on the event loop
(issue 21, item 8: one account's big body held every other request of the process)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from api import problems
from api.bodies import ThreadedBody

ON_LOOP: list[bool] = []


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Probe(BaseModel):
    items: list[int]

    @field_validator("items")
    @classmethod
    def _where(cls, v: list[int]) -> list[int]:
        ON_LOOP.append(_loop_running())
        if any(i < 0 for i in v):
            raise ValueError("negative")
        return v


def _app(route_class: type | None) -> FastAPI:
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, problems.on_validation)
    router = APIRouter(route_class=route_class) if route_class else APIRouter()

    @router.post("/probe")
    async def probe(body: Probe) -> dict[str, int]:
        return {"n": len(body.items)}

    app.include_router(router)
    return app


def test_the_body_is_validated_off_the_loop_once() -> None:
    ON_LOOP.clear()
    with TestClient(_app(ThreadedBody)) as client:
        assert client.post("/probe", json={"items": [1, 2, 3]}).json() == {"n": 3}
        bad = client.post("/probe", json={"items": [1, -1]})
        not_json = client.post(
            "/probe", content=b'{"items": [1,', headers={"Content-Type": "application/json"}
        )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "items"
    assert not_json.status_code == 422
    assert not_json.json()["errors"][0]["message"] == "JSON decode error"
    assert ON_LOOP == [False, False]  # validated once per request, never on the loop


def test_without_it_fastapi_validates_on_the_loop() -> None:
    """The control: what ThreadedBody changes (fails if FastAPI ever stops doing this)."""
    ON_LOOP.clear()
    with TestClient(_app(None)) as client:
        assert client.post("/probe", json={"items": [1]}).status_code == 200
    assert ON_LOOP == [True]


class Many(BaseModel):
    items: list[int]


def test_many_errors_are_cut_to_the_first_fifty() -> None:
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, problems.on_validation)
    router = APIRouter(route_class=ThreadedBody)

    @router.post("/many")
    async def many(body: Many) -> int:
        return len(body.items)

    app.include_router(router)
    with TestClient(app) as client:
        r = client.post("/many", json={"items": ["x"] * 5_000})
    assert r.status_code == 422
    assert len(r.json()["errors"]) == problems.MAX_ERRORS
    assert len(r.content) < 16_384


def test_every_api_route_with_a_json_body_validates_it_in_a_thread() -> None:
    from fastapi.routing import APIRoute

    from api import routes_campaigns, routes_dnc, routes_resources

    bodies = []
    for module in (routes_campaigns, routes_dnc, routes_resources):
        for router in (getattr(module, "router", None), getattr(module, "ops", None)):
            for route in router.routes if router is not None else []:
                if isinstance(route, APIRoute) and route.body_field is not None:
                    bodies.append(
                        (route.path, type(route), route.body_field.field_info.is_required())
                    )
    assert len(bodies) > 8
    assert [b for b in bodies if b[1] is not ThreadedBody or not b[2]] == []
