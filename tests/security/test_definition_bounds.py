"""Every number and id of a definition is bounded; --dry-run encodes the create (item 9).

Before: `.inf`, 1e300 or 10**20 passed `--dry-run`, then crashed `simulate` or the Avro
encoder after the contacts were published.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from campaignflow.config import settings
from campaigns.models import DefinitionError, parse_definition
from ingest.definitions import load_definition
from ingest.upload import upload

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "spec"
CAMPAIGNFLOW = str(Path(sys.executable).parent / "campaignflow")

BAD: list[tuple[str, Any]] = [
    ("rules.retry_delay_minutes", float("inf")),
    ("rules.retry_delay_minutes", float("nan")),
    ("rules.retry_delay_minutes", 1e300),
    ("rules.max_call_minutes", float("inf")),
    ("rules.max_call_minutes", 1e300),
    ("rules.max_retries", 10**20),
    ("rules.concurrent_calls", 10**20),
    ("rules.inbound_free_slots", 10**20),
    ("campaign_id", "a" * 65),
    ("account_id", "a" * 65),
    ("agent.id", "b" * 129),
    ("name", "n" * 201),
    ("agent.prompt", "p" * 32_001),
]


def _with(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(yaml.safe_load((EXAMPLES / "campaign.yaml").read_text()))
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return data


@pytest.mark.parametrize(("path", "value"), BAD, ids=[f"{p}={str(v)[:12]}" for p, v in BAD])
def test_out_of_bounds_values_are_definition_errors_naming_the_field(path: str, value: Any) -> None:
    with pytest.raises(DefinitionError) as err:
        parse_definition(_with(path, value))
    assert str(err.value).startswith(path + ":"), str(err.value)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("rules.max_call_minutes", ".inf"),
        ("rules.max_retries", 10**20),
        (
            "rules.attempt_limits",
            [{"scope": "number", "max_calls": 3, "period_hours": 24}] * 60_000,
        ),
    ],
    ids=["max_call_minutes", "max_retries", "attempt_limits"],
)
def test_dry_run_refuses_them_with_exit_2_and_one_line(
    tmp_path: Path, path: str, value: Any
) -> None:
    data = _with(path, value)
    text = yaml.safe_dump(data).replace("'.inf'", ".inf")
    definition = tmp_path / "campaign.yaml"
    definition.write_text(text)
    done = subprocess.run(
        [
            CAMPAIGNFLOW,
            "campaign",
            "create",
            str(definition),
            "--contacts",
            str(EXAMPLES / "contacts.csv"),
            "--dry-run",
        ],
        env={**os.environ, "CAMPAIGNFLOW_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert path in done.stderr and "Traceback" not in done.stderr


def test_dry_run_encodes_the_create_command() -> None:
    """A definition that skipped validation (built in code) is caught by the encoder check."""
    d = load_definition(EXAMPLES / "campaign.yaml")
    bad = d.model_copy(update={"rules": d.rules.model_copy(update={"max_retries": 10**20})})
    with pytest.raises(DefinitionError, match="create command cannot be encoded"):
        upload(bad, EXAMPLES / "contacts.csv", publish=False, workers=1)


def test_ids_from_other_producers_are_bounded_too() -> None:
    """A batch or command straight on Kafka meets the same id bounds (parked, not stored)."""
    from campaigns.contacts import Contact
    from campaigns.engine import Engine
    from campaigns.store import StaticDirectory
    from streams.shell import Incoming, Shell
    from tests.security.test_fuzz_decoders import CODEC, _ShellStore
    from topics import catalogue, translate

    store = _ShellStore()
    shell = Shell(Engine(store, StaticDirectory()), store, CODEC, prefix=settings().topic_prefix)  # type: ignore[arg-type]
    long_contact = Contact("i" * 60_000, 1, "+12025550001", [], {})
    batch = translate.batch_to_record("camp", "b1", [long_contact], 0, "acme")
    value = CODEC.encode("ContactBatch", batch)
    long_campaign = CODEC.encode("ContactBatch", {**batch, "campaign_id": "c" * 65, "contacts": []})
    topic = catalogue.topic_name(catalogue.CONTACTS, settings().topic_prefix)
    out = shell.handle(
        [Incoming(topic, 0, 7, b"camp", value), Incoming(topic, 0, 8, b"c", long_campaign)]
    )
    parked = [CODEC.decode(o.value)[1] for o in out if CODEC.decode(o.value)[0] == "DeadLetter"]
    assert [(p["offset"], "characters" in p["error"]) for p in parked] == [(7, True), (8, False)]
    assert "not a valid campaign id" in parked[1]["error"]
    assert store.memory.contacts == {}


def test_the_largest_call_create_the_bounds_allow_fits_a_message() -> None:
    """Prompt, header and row at their limits, every character 4 bytes: still under 1 MiB."""
    from campaigns.contacts import MAX_COLUMN_CHARS, MAX_ROW_CHARS
    from campaigns.models import MAX_PROMPT_CHARS
    from topics import catalogue
    from topics.codec import Codec

    wide = "\U0001f600"  # 4 bytes in UTF-8
    columns = MAX_ROW_CHARS // MAX_COLUMN_CHARS
    names = [f"{i:05d}" + wide * (MAX_COLUMN_CHARS - 5) for i in range(columns)]
    value = wide * (MAX_ROW_CHARS // columns)
    record = {
        "call_id": "c" * 64 + "/" + "i" * 128 + "/99",
        "campaign_id": "c" * 64,
        "account_id": "a" * 64,
        "contact_id": "i" * 128,
        "attempt": 99,
        "to": "+123456789012345",
        "from": "+123456789012345",
        "alternate_position": 99,
        "agent_id": "b" * 128,
        "agent_prompt": wide * MAX_PROMPT_CHARS,
        "variables": dict.fromkeys(names, value),
        "created_at": 0,
        "deadline": 1,
    }
    size = len(Codec(None).encode("CallCreate", record))
    assert size < catalogue.MAX_MESSAGE_BYTES - 1024, size


# ---- every list of a definition is bounded (issue 21, item 2) ---------------------------

LIMIT = {"scope": "number", "max_calls": 3, "period_hours": 24}
WINDOW = {"start": "09:00", "end": "10:00"}
LISTS: list[tuple[str, Any]] = [
    ("rules.attempt_limits", [LIMIT] * 60_000),
    ("rules.blackout_dates", ["2026-12-24"] * 110_000),
    ("rules.compliance", ["us_tcpa"] * 100_000),
    ("rules.calling_window", [WINDOW] * 700_000),
    ("rules.contact_local_time.window", [WINDOW] * 7),
    ("rules.calling_days", ["mon"] * 8),
    ("rules.retry_on", ["busy"] * 8),
    ("rules.caller_ids.numbers", ["+15550100001"] * 1_001),
    ("variable_mapping", {f"c{i}": "v" for i in range(1_001)}),
    ("rules.timezone", "Europe/" + "x" * 100),
]


@pytest.mark.parametrize(("path", "value"), LISTS, ids=[p for p, _ in LISTS])
def test_every_list_is_bounded_and_the_error_names_it(path: str, value: Any) -> None:
    data = _with("rules.caller_ids", {"numbers": ["+15550100001"]})
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value
    with pytest.raises(DefinitionError) as err:
        parse_definition(data)
    assert str(err.value).startswith(path + ":"), str(err.value)[:300]


def test_calling_hours_names_at_most_the_seven_days() -> None:
    data = _with("rules.calling_window", WINDOW)
    del data["rules"]["calling_window"]
    data["rules"].pop("calling_days", None)
    data["rules"]["calling_hours"] = {f"d{i}": [WINDOW] for i in range(100_000)}
    with pytest.raises(DefinitionError, match=r"^rules\.calling_hours:"):
        parse_definition(data)


def test_a_limit_counts_at_most_a_thousand_calls() -> None:
    """A limit keeps up to max_calls call times per number: bounded, so its row stays small."""
    with pytest.raises(DefinitionError, match=r"rules\.attempt_limits\.0\.max_calls"):
        parse_definition(_with("rules.attempt_limits", [{**LIMIT, "max_calls": 1_001}]))


def test_the_dry_run_weighs_the_state_the_create_implies() -> None:
    """Within every bound and Avro under the limit, yet 2.4 MB as the worker's state row
    (control characters are written \\u00XX): the dry run refuses it, naming the field."""
    d = load_definition(EXAMPLES / "campaign.yaml")
    mapping = {f"{i:03d}" + "\x01" * 197: f"{i:03d}" + "\x02" * 197 for i in range(1_000)}
    bad = d.model_copy(update={"variable_mapping": mapping})
    with pytest.raises(DefinitionError) as err:
        upload(bad, EXAMPLES / "contacts.csv", publish=False, workers=1)
    assert str(err.value).startswith("variable_mapping: the campaign's stored definition")


def test_a_definition_at_every_list_bound_fits_one_message() -> None:
    """Every list at its bound (ids and names of sane size): create command and state row fit."""
    from campaigns import models
    from ingest.upload import check_create_encodes

    data = _with("rules.caller_ids", {"numbers": [f"+1555010{i:04d}" for i in range(1_000)]})
    rules = data["rules"]
    rules["attempt_limits"] = [LIMIT] * models.MAX_ATTEMPT_LIMITS
    rules["blackout_dates"] = [
        f"{2026 + i // 360}-{1 + i // 30 % 12:02d}-{1 + i % 28:02d}"
        for i in range(models.MAX_BLACKOUT_DATES)
    ]
    rules["calling_window"] = [
        {"start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(8, 8 + models.MAX_WINDOWS)
    ]
    rules["compliance"] = ["us_tcpa"] * models.MAX_PRESETS
    data["variable_mapping"] = {f"column{i:04d}": f"variable{i:04d}" for i in range(1_000)}
    check_create_encodes(parse_definition(data))
