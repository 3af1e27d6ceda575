"""The fuzzing of issue 17 extended to the bounds of issue 21 (items 2 and 8).

Every list of every request body and of the campaign definition has a bound, checked
by length before its items are read; definitions with lists around their bounds are
either valid and fit one message (create command and state row) or refused with an
error naming the field; the worker, handed such a create straight from the topic,
never raises and never writes a state value over the message limit.

FUZZ_EXAMPLES sets the examples per test (default 200), as in test_fuzz_decoders.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from annotated_types import MaxLen
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from api.campaign_io import ContactsJson, CreateJson
from campaigns import models, testing
from campaigns.engine import Engine
from campaigns.events import Command, CommandKind
from campaigns.models import CampaignDefinition, DefinitionError, parse_definition
from campaigns.store import StaticDirectory
from ingest.upload import check_create_encodes
from streams.shell import Incoming, Shell
from streams.tablestore import TableStore
from tests.security.test_fuzz_decoders import FUZZ
from tests.unit.test_stream_commit import Rocks
from topics import catalogue, translate
from topics.codec import Codec

CODEC = Codec(None)

# ---- every list is bounded ---------------------------------------------------------------


def _bounded(metadata: list[Any]) -> bool:
    for m in metadata:
        if isinstance(m, MaxLen):
            return True
        if isinstance(m, FieldInfo) and _bounded(list(m.metadata)):
            return True
    return False


def _unbounded(tp: Any, metadata: list[Any], path: str, seen: set[type]) -> list[str]:
    origin = get_origin(tp)
    if origin is Annotated:
        inner, *extra = get_args(tp)
        return _unbounded(inner, [*metadata, *extra], path, seen)
    if origin in (Union, types.UnionType):
        return [p for a in get_args(tp) for p in _unbounded(a, metadata, path, seen)]
    if origin in (list, dict, set, frozenset, tuple):
        found = [] if _bounded(metadata) else [path]
        for a in get_args(tp):
            found += _unbounded(a, [], f"{path}[]", seen)
        return found
    if isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in seen:
        return _model_unbounded(tp, f"{path}.", seen | {tp})
    return []


def _model_unbounded(model: type[BaseModel], prefix: str, seen: set[type]) -> list[str]:
    return [
        p
        for name, f in model.model_fields.items()
        for p in _unbounded(f.annotation, list(f.metadata), prefix + name, seen)
    ]


def _request_models() -> list[type[BaseModel]]:
    """Every JSON body a route validates, and the ones the create routes validate by hand."""
    from fastapi.routing import APIRoute

    from api import routes_campaigns, routes_dnc, routes_resources

    found: list[type[BaseModel]] = [CreateJson, ContactsJson, CampaignDefinition]
    for module in (routes_campaigns, routes_dnc, routes_resources):
        for router in (getattr(module, "router", None), getattr(module, "ops", None)):
            for route in router.routes if router is not None else []:
                field = route.body_field if isinstance(route, APIRoute) else None
                tp = field.field_info.annotation if field is not None else None
                if isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in found:
                    found.append(tp)
    return found


def test_every_list_of_every_request_body_and_definition_is_bounded() -> None:
    request_models = _request_models()
    assert len(request_models) > 8  # the routes' bodies were found
    unbounded = {m.__name__: _model_unbounded(m, "", {m}) for m in request_models}
    assert {k: v for k, v in unbounded.items() if v} == {}


def test_the_walk_finds_an_unbounded_list() -> None:
    """The control: a list without max_length is reported."""

    class Loose(BaseModel):
        ok: list[int] = []
        nested: dict[str, list[int]] = {}

    assert _model_unbounded(Loose, "", {Loose}) == ["ok", "nested", "nested[]"]


# ---- definitions around their bounds -------------------------------------------------------

LIMIT = {"scope": "number", "max_calls": 3, "period_hours": 24}
BOUNDS: dict[str, tuple[int, Any]] = {
    "attempt_limits": (models.MAX_ATTEMPT_LIMITS, LIMIT),
    "blackout_dates": (models.MAX_BLACKOUT_DATES, "2026-12-24"),
    "compliance": (models.MAX_PRESETS, "us_tcpa"),
    "calling_window": (models.MAX_WINDOWS, None),  # distinct windows, built below
    "calling_days": (7, "mon"),
    "retry_on": (7, "busy"),
}


def _windows(n: int) -> list[dict[str, str]]:
    return [
        {"start": f"{i // 4:02d}:{i % 4 * 15:02d}", "end": f"{i // 4:02d}:{i % 4 * 15 + 10:02d}"}
        for i in range(n)
    ]


@st.composite
def sized_lists(draw: st.DrawFn) -> dict[str, int]:
    names = draw(st.lists(st.sampled_from(sorted(BOUNDS)), min_size=1, max_size=3, unique=True))
    return {
        n: draw(st.integers(0, BOUNDS[n][0] + 2) | st.integers(BOUNDS[n][0], 3 * BOUNDS[n][0]))
        for n in names
    }


@FUZZ
@given(sizes=sized_lists())
def test_definitions_around_the_bounds_are_valid_and_fit_or_name_the_field(
    sizes: dict[str, int],
) -> None:
    record = testing.definition_record("fz", concurrent_calls=2)
    for name, n in sizes.items():
        item = BOUNDS[name][1]
        record["rules"][name] = _windows(n) if name == "calling_window" else [item] * n
    over = {name for name, n in sizes.items() if n > BOUNDS[name][0]}
    try:
        d = parse_definition(record)
    except DefinitionError as err:
        fields = {line.split(":")[0] for line in str(err).splitlines()}
        assert fields, str(err)
        assert over or any(n == 0 for n in sizes.values()), str(err)[:300]
        assert all(f.startswith("rules.") for f in fields), fields
        return
    assert not over, sizes
    check_create_encodes(d)


# ---- the worker, given such definitions straight from the topic ----------------------------


@FUZZ
@given(sizes=sized_lists(), control=st.integers(0, 400))
def test_the_worker_never_writes_a_state_value_over_the_limit(
    sizes: dict[str, int], control: int
) -> None:
    store = TableStore(Rocks())  # type: ignore[arg-type]
    shell = Shell(Engine(store, StaticDirectory()), store, CODEC, prefix="fz.")
    d = testing.definition("fz", concurrent_calls=2)
    command = Command("create-fz", CommandKind.create, definition=d, expected_contacts=0)
    record = translate.command_to_record("fz", command, 0)
    record["account_id"] = "acme"
    body = record["command"][1] if isinstance(record["command"], tuple) else record["command"]
    rules = body["definition"]["rules"]
    for name, n in sizes.items():
        item = BOUNDS[name][1]
        rules[name] = _windows(n) if name == "calling_window" else [item] * n
    # mapping names of control characters: 6 bytes each in the state row, 1 in Avro
    body["definition"]["variable_mapping"] = {
        f"{i:03d}" + "\x01" * control: "v" for i in range(1_000)
    }
    value = CODEC.encode("CampaignCommand", record)
    if len(value) > catalogue.MAX_MESSAGE_BYTES:
        return  # a producer could not send it
    out = shell.handle(
        [Incoming(catalogue.topic_name(catalogue.COMMANDS, "fz."), 0, 1, b"fz", value)]
    )
    assert all(len(o.value) <= catalogue.MAX_MESSAGE_BYTES for o in out)
    run = store.seal()
    for writes in run.writes.values():
        for key, raw in writes.items():
            assert len(key) + len(raw or b"") <= catalogue.VALUE_MAX_BYTES
    events = [CODEC.decode(o.value)[1] for o in out if CODEC.decode(o.value)[0] == "CampaignEvent"]
    rejected = [e for e in events if e["body"][0].endswith("CommandRejected")]
    assert (store.get_campaign("fz") is not None) != bool(rejected), (sizes, control)
