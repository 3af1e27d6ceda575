"""Issue 21 item 12: user text never drives the operator's terminal or spreadsheet.

A campaign name carrying terminal escapes (clear screen, set the window title, an OSC 8
hyperlink, a right-to-left override) is shown escaped by `campaign list`; the rejected
lines `dnc import --rejects` writes are CSV-injection safe (OWASP's formula starts) and
carry no control characters. Live on the real broker through the real CLI.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from campaignflow.cli import app as cli_app
from campaignflow.config import settings
from campaigns.csvsafe import neutralise
from campaigns.textsafe import visible, visible_lines
from ingest import CampaignClient
from tests.integration.dialer_kit import drop_topics
from topics import catalogue
from topics.clients import KafkaSettings

EVIL_NAME = "Spring\x1b[2J\x1b]0;owned\x07\x9b31m\u202egnp.exe\r[link=http://x]y[/link]"
YAML = """\
campaign_id: {cid}
account_id: acme
name: {name}
agent: {{id: bot, prompt: "Hi {{{{name}}}}"}}
source_number: "+15550100000"
default_region: US
rules:
  timezone: UTC
  concurrent_calls: 2
"""


def no_controls(text: str) -> bool:
    """Nothing a terminal acts on: no C0 but newline, no DEL or C1, no bidi override."""
    return not any(
        (ord(ch) < 0x20 and ch != "\n") or 0x7F <= ord(ch) < 0xA0 or ch == "\u202e" for ch in text
    )


def test_visible_escapes_every_control_and_keeps_text() -> None:
    assert visible(EVIL_NAME) == (
        "Spring\\x1b[2J\\x1b]0;owned\\x07\\x9b31m\\u202egnp.exe\\x0d[link=http://x]y[/link]"
    )
    assert visible("Zoë 日本 ☎ +33 1 42 68 53 00") == "Zoë 日本 ☎ +33 1 42 68 53 00"
    assert visible("a\nb\tc") == "a\\x0ab\\x09c"
    assert visible_lines("a\nb\tc\x1b") == "a\nb\tc\\x1b"
    assert visible(None) == ""


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_follow_owasp_and_lose_controls(start: str) -> None:
    cell = neutralise(f'{start}HYPERLINK("http://x")\x1b[31m')
    assert cell.startswith("'" + start) and "\x1b" not in cell and cell.endswith("\\x1b[31m")
    assert neutralise("plain\x07") == "plain\\x07"
    assert neutralise("two\nlines") == "two\nlines"  # quoted by the CSV writer, not escaped


def test_campaign_list_shows_an_escaped_name(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    (tmp_path / "c.yaml").write_text(YAML.format(cid="esc-1", name=f'"{_yaml(EVIL_NAME)}"'))
    (tmp_path / "c.csv").write_text("phone_number,name\n+12025550101,A\n")
    try:
        with CampaignClient(
            KafkaSettings(kafka_bootstrap), settings().topics_at(topic_prefix)
        ) as client:
            client.create(tmp_path / "c.yaml", tmp_path / "c.csv", workers=1)
        settings.cache_clear()
        result = CliRunner().invoke(
            cli_app,
            ["campaign", "list"],
            env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "COLUMNS": "400"},
        )
        assert result.exit_code == 0, result.output
        assert "esc-1" in result.output
        assert no_controls(result.output), repr(result.output)
        assert "\\x1b[2J" in result.output and "\\u202e" in result.output
        assert "[link=http://x]y[/link]" in result.output  # shown, not read as markup
    finally:
        drop_topics([catalogue.topic_name(t, topic_prefix) for t in catalogue.LOGICAL_NAMES])


def test_dnc_import_rejects_are_injection_safe(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    lines = [
        "+12125550100",
        '=HYPERLINK("http://evil","x")',
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "-2+3",
        "+1 x\x1b]0;owned\x07",
        "\tabc",
        "ok\x1b[2Jnot a number",
    ]
    source = tmp_path / "numbers.txt"
    source.write_bytes(("\n".join(lines) + "\n").encode())
    rejects = tmp_path / "rejects.csv"
    try:
        settings.cache_clear()
        result = CliRunner().invoke(
            cli_app,
            ["topics", "create"],
            env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap},
        )
        assert result.exit_code == 0, result.output
        result = CliRunner().invoke(
            cli_app,
            ["dnc", "import", str(source), "--account", "acme", "--rejects", str(rejects)],
            env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap},
        )
        assert result.exit_code == 0, result.output
        assert no_controls(result.output), repr(result.output)
        assert "imported 1 number(s)" in result.output
        raw = rejects.read_text(encoding="utf-8")
        assert no_controls(raw), repr(raw)
        rows = list(csv.reader(io.StringIO(raw)))
        assert rows[0] == ["line", "reason", "text"]
        texts = {int(r[0]): r[2] for r in rows[1:]}
        assert sorted(texts) == [2, 3, 4, 5, 6, 7]
        for n, text in texts.items():
            assert not text.startswith(("=", "+", "-", "@", "\t", "\r")), (n, text)
        assert texts[2] == '\'=HYPERLINK("http://evil","x")'
        assert texts[5] == "'+1 x\\x1b]0;owned\\x07"
        assert texts[7] == "ok\\x1b[2Jnot a number"
    finally:
        drop_topics([catalogue.topic_name(t, topic_prefix) for t in catalogue.LOGICAL_NAMES])


def _yaml(text: str) -> str:
    """A YAML double-quoted scalar's body: the control characters as YAML escapes."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch == "\u202e":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)
