"""Every command and contact batch the project produces names its account (real broker)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from campaignflow.cli import app as cli_app
from campaignflow.config import settings
from campaigns.events import CommandKind
from ingest import CampaignClient
from tests.integration.dialer_kit import drop_topics, read_all
from topics import catalogue
from topics.clients import KafkaSettings

YAML = """\
campaign_id: {cid}
account_id: acme
name: Accounts
agent: {{id: bot, prompt: "Hi {{{{name}}}}"}}
source_number: "+15550100000"
default_region: US
rules:
  timezone: UTC
  concurrent_calls: 2
"""


def test_ingest_the_client_and_the_cli_set_account_id(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    cid = "acct-1"
    (tmp_path / "c.yaml").write_text(YAML.format(cid=cid))
    (tmp_path / "c.csv").write_text("phone_number,name\n+12025550101,A\n+12025550102,B\n")
    names = [catalogue.topic_name(t, topic_prefix) for t in catalogue.LOGICAL_NAMES]
    try:
        with CampaignClient(
            KafkaSettings(kafka_bootstrap), settings().topics_at(topic_prefix)
        ) as client:
            client.create(tmp_path / "c.yaml", tmp_path / "c.csv", workers=1)
            client.add_contacts(cid, [{"phone_number": "+12025550103", "name": "C"}])
            client.start(cid, wait=False)  # the campaign's own account, from its create
        with CampaignClient(
            KafkaSettings(kafka_bootstrap), settings().topics_at(topic_prefix), account_id="other"
        ) as client:
            client.command(cid, CommandKind.pause, wait=False)
        settings.cache_clear()
        result = CliRunner().invoke(
            cli_app,
            ["campaign", "cancel", cid, "--no-wait", "--account", "cli-acct"],
            env={
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "CAMPAIGNFLOW_TOPIC_PREFIX": topic_prefix,
            },
        )
        assert result.exit_code == 0, result.output
        commands = read_all(kafka_bootstrap, catalogue.topic_name(catalogue.COMMANDS, topic_prefix))
        contacts = read_all(kafka_bootstrap, catalogue.topic_name(catalogue.CONTACTS, topic_prefix))
        kinds = [(r["command"][0].rsplit(".", 1)[1], r["account_id"]) for _m, _e, r in commands]
        assert kinds == [
            ("CreateCampaign", "acme"),
            ("AddContacts", "acme"),
            ("StartCampaign", "acme"),
            ("PauseCampaign", "other"),
            ("CancelCampaign", "cli-acct"),
        ]
        assert len(contacts) == 2 and {r["account_id"] for _m, _e, r in contacts} == {"acme"}
    finally:
        settings.cache_clear()
        drop_topics(names)
