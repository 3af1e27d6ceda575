"""An agent per contact (issue 23 item 3): the reserved `agent_id` column names one of the
campaign's agents (its own or `definition.agents`); an unknown one rejects the row naming
the column, in a file and in manual rows alike; the engine puts the contact's agent on its
calls and the campaign's on the rest; contact and definition travel through Avro and the
worker's state rows with it, and rows stored before it still load."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from campaigns.contacts import AGENT, Contact
from campaigns.engine import Engine
from campaigns.events import CallCreated, Command, CommandKind
from campaigns.exceptions import DefinitionError
from campaigns.models import parse_definition
from campaigns.state import ContactState
from campaigns.store import MemoryStore, StaticDirectory
from campaigns.testing import definition, definition_record
from ingest.manual import cli_row, parse_rows
from ingest.pipeline import ContactReader
from streams import records
from tests.helpers import at, contact
from topics import translate
from topics.codec import Codec

pytestmark = pytest.mark.unit

WINBACK = {"id": "winback", "prompt": "Hello {{name}}, we miss you."}


def test_the_definition_lists_its_agents_and_finds_a_contacts() -> None:
    d = parse_definition({**definition_record("c1", concurrent_calls=1), "agents": [WINBACK]})
    assert d.agent_ids == {"bot", "winback"}
    assert d.agent_for("winback").prompt == WINBACK["prompt"]
    assert d.agent_for(None).id == "bot"
    assert d.agent_for("bot").id == "bot"
    assert definition("c1", concurrent_calls=1).agents == []
    with pytest.raises(DefinitionError, match="agents: .*'winback' is listed twice"):
        parse_definition(
            {**definition_record("c1", concurrent_calls=1), "agents": [WINBACK, WINBACK]}
        )


def test_manual_rows_name_known_agents_and_an_unknown_one_is_rejected_naming_the_column() -> None:
    rows = [
        {"phone_number": "+12125550001", "agent_id": "winback"},
        {"phone_number": "+12125550002", "agent_id": ""},
        {"phone_number": "+12125550003", "agent_id": "ghost-bot"},
    ]
    accepted, rejected = parse_rows(rows, "US", agents={"bot", "winback"})
    assert [c.agent_id for c in accepted] == ["winback", None]
    assert "agent_id" not in accepted[0].variables  # reserved, not a prompt variable
    [rej] = rejected
    assert (rej.row, rej.column) == (3, "agent_id")
    assert "unknown agent 'ghost-bot'" in rej.reason and "bot, winback" in rej.reason
    assert rej.values["agent_id"] == "ghost-bot"


def test_a_file_row_with_an_unknown_agent_is_rejected_with_its_row_and_column() -> None:
    data = (
        b"phone_number,name,agent_id\n"
        b"+12125550001,Ann,winback\n"
        b"+12125550002,Bob,nobody\n"
        b"+12125550003,Cy,\n"
    )
    reader = ContactReader.open(io.BytesIO(data), "l.csv", "US", 1, agents={"bot", "winback"})
    rejections = [r for chunk in reader.chunks() for r in chunk.rejections]
    assert [(r.row, r.column) for r in rejections] == [(2, "agent_id")]
    assert "unknown agent 'nobody'" in rejections[0].reason


def test_the_engine_calls_with_the_contacts_agent_and_the_campaigns_for_the_rest() -> None:
    d = parse_definition({**definition_record("c1", concurrent_calls=5), "agents": [WINBACK]})
    own = contact(1)
    own.agent_id = "winback"
    named_campaigns = contact(3)
    named_campaigns.agent_id = "bot"
    engine = Engine(MemoryStore(), StaticDirectory())
    cmds = [
        Command("k0", CommandKind.create, definition=d, expected_contacts=3),
        Command("k1", CommandKind.start),
    ]
    out = engine.step_campaign(
        "c1", at(2026, 12, 1, 14), contacts=[own, contact(2), named_campaigns], commands=cmds
    )
    made = {e.contact_id: e for e in out if isinstance(e, CallCreated)}
    assert {k: e.agent_id for k, e in made.items()} == {
        "row-1": "winback",
        "row-2": "bot",
        "row-3": "bot",
    }
    # what the shell puts on call:create: that agent's id and prompt
    rec = translate.call_to_record(made["row-1"], d.agent_for(made["row-1"].agent_id).prompt)
    assert (rec["agent_id"], rec["agent_prompt"]) == ("winback", WINBACK["prompt"])


def test_contact_and_definition_keep_the_agent_through_avro_and_state_rows() -> None:
    codec = Codec()
    c = Contact("c-1", 1, "+12125550001", [], {"name": "Ann"}, agent_id="winback")
    batch = translate.batch_to_record("c1", "b1", [c], 0, account_id="acme")
    _, decoded = codec.decode(codec.encode("ContactBatch", batch))
    assert translate.contact_from_record(decoded["contacts"][0]).agent_id == "winback"

    d = parse_definition({**definition_record("c1", concurrent_calls=1), "agents": [WINBACK]})
    _, rec = codec.decode(codec.encode("CampaignDefinition", translate.definition_to_record(d)))
    back = translate.definition_from_record(rec)
    assert back.agents == d.agents
    assert records.load_definition(records.dump_definition(d)).agents == d.agents

    state = records.load_contact(records.dump_contact(ContactState(0, c)))
    assert state.contact.agent_id == "winback"


def test_a_state_row_stored_before_agents_loads_with_the_campaigns_agent() -> None:
    c = Contact("c-1", 1, "+12125550001", [], {})
    version, row = json.loads(records.dump_contact(ContactState(0, c)))
    row["contact"] = row["contact"][:6]  # as rows were written before issue 23
    old = records.load_contact(json.dumps([version, row]).encode())
    assert old.contact.agent_id is None


def test_contacts_add_names_the_agent_as_the_column() -> None:
    row = cli_row("+12125550001", ["name=Ann"], [], [], agent_id="winback")
    accepted, rejected = parse_rows([row], "US", agents={"bot", "winback"})
    assert ([c.agent_id for c in accepted], rejected) == (["winback"], [])
    assert AGENT not in cli_row("+12125550001", [], [], [])


class _Agents:
    """The control plane's `get` for agents, as the API's create reads them."""

    def get(self, kind: str, account: str, agent_id: str) -> dict[str, str] | None:
        known = {"winback": WINBACK["prompt"]}
        if kind == "agent" and account == "acme" and agent_id in known:
            return {"agent_id": agent_id, "prompt": known[agent_id]}
        return None


def test_the_apis_create_adds_the_accounts_agents_its_rows_name(tmp_path: Path) -> None:
    from api import campaign_io

    path = tmp_path / "list.csv"
    campaign_io.rows_to_csv(
        [
            {"phone_number": "+12125550001", "agent_id": "winback"},
            {"phone_number": "+12125550002", "agent_id": "ghost"},
            {"phone_number": "+12125550003", "agent_id": "bot"},
            {"phone_number": "+12125550004"},
        ],
        path,
    )
    names = campaign_io.agents_named(path)
    assert names == ["winback", "ghost", "bot"]
    d = definition("c1", concurrent_calls=1)
    got = campaign_io.with_agents(_Agents(), "acme", d, names)  # type: ignore[arg-type]
    assert [(a.id, a.prompt) for a in got.agents] == [("winback", WINBACK["prompt"])]
    assert got.agent_ids == {"bot", "winback"}  # ghost is left out: ingest rejects its row
    assert campaign_io.with_agents(_Agents(), "other", d, names) is d


def test_an_agent_contacts_name_is_in_use_by_their_campaign() -> None:
    from api import usage

    d = parse_definition({**definition_record("c1", concurrent_calls=1), "agents": [WINBACK]})
    assert usage.uses_agent("winback")(d) and usage.uses_agent("bot")(d)
    assert not usage.uses_agent("ghost")(d)


def test_a_mapping_may_feed_a_variable_only_another_agent_declares() -> None:
    record = definition_record("c1", concurrent_calls=1, variable_mapping={"first": "fname"})
    alone = parse_definition(record)
    assert alone.mapping_report(["first"]).unknown_targets == ["fname"]
    other = {"id": "winback", "prompt": "Hello {{fname}}"}
    both = parse_definition({**record, "agents": [other]})
    assert both.mapping_report(["first"]).unknown_targets == []


def test_simulate_reads_the_column_with_the_campaigns_agents(tmp_path: Path) -> None:
    from campaignflow.cli_simulate import load_contacts

    path = tmp_path / "c.csv"
    path.write_text("phone_number,agent_id\n+12125550001,winback\n+12125550002,ghost\n")
    contacts, rejections = load_contacts(path, "US", {"bot", "winback"})
    assert [c.agent_id for c in contacts] == ["winback"]
    assert [(r.row, r.column) for r in rejections] == [(2, "agent_id")]
