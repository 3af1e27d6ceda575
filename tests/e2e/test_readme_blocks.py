"""The README's "Running a campaign yourself" block, run as written against a live `dev up`.

Each command of the block is run in order, from a directory that holds the repository's
`.venv` and `examples` (so files the commands write, the report's plot, land there), with
the stack's state, topics and ports kept apart from the developer's; every one must exit 0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

from campaignflow.config import REPO_ROOT
from tests.helpers import DEV_UP_SECONDS, free_port

SECTION = "## Running a campaign yourself"


def readme_commands(section: str) -> list[list[str]]:
    """The first fenced block under `section`: one argv a command, continuations joined,
    comments left out."""
    text = (REPO_ROOT / "README.md").read_text()
    body = text[text.index(section) :]
    block = re.search(r"```\n(.*?)```", body, re.S)
    assert block, f"no command block under {section!r}"
    joined = re.sub(r"\\[ \t]*(#[^\n]*)?\n", " ", block.group(1))
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


def test_the_block_lists_the_lifecycle_in_order() -> None:
    """The parser reads what a reader sees: the stack first and last, the account before a start."""
    names = [" ".join(argv[1:3]) for argv in readme_commands(SECTION)]
    assert names[0] == "dev up" and names[-1] == "dev down"
    assert names.index("accounts create") < names.index("campaign start")
    assert all(argv[0] == ".venv/bin/campaignflow" for argv in readme_commands(SECTION))


def test_running_a_campaign_yourself_works_as_written(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    for name in (".venv", "examples"):
        (tmp_path / name).symlink_to(REPO_ROOT / name)
    env = {
        **os.environ,
        "CAMPAIGNFLOW_HOME": str(tmp_path / "home"),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CAMPAIGNFLOW_TOPIC_PREFIX": topic_prefix,
        "CAMPAIGNFLOW_WORKER_PORT": str(free_port()),
        "CAMPAIGNFLOW_DIALER_METRICS_PORT": str(free_port()),
        "CAMPAIGNFLOW_DIALER_CALLBACK_PORT": str(free_port()),
        "CAMPAIGNFLOW_SINK_PORT": str(free_port()),
        "CAMPAIGNFLOW_API_PORT": str(free_port()),
    }
    commands = readme_commands(SECTION)
    try:
        for argv in commands:
            done = subprocess.run(
                argv,
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=DEV_UP_SECONDS,  # a hung command only; none takes a minute when it works
            )
            assert done.returncode == 0, f"{shlex.join(argv)}:\n{done.stdout}{done.stderr}"
        assert (tmp_path / "answer-rate.png").stat().st_size > 0, "the report's plot"
    finally:
        down = [".venv/bin/campaignflow", "dev", "down"]
        subprocess.run(down, cwd=tmp_path, env=env, capture_output=True, timeout=300)
