"""`campaignflow kafka up|down|status`: the local broker."""

from __future__ import annotations

import typer

from campaignflow import kafka_local

app = typer.Typer(no_args_is_help=True)


def _say(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def up() -> None:
    """Start the local broker (or reuse the running one); the last line is bootstrap=HOST:PORT."""
    try:
        st = kafka_local.up(say=_say)
    except kafka_local.KafkaLocalError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not st.started and not st.external:
        _say(f"reusing the running broker (pid {st.pid})")
    typer.echo(f"bootstrap={st.bootstrap}")


@app.command()
def down() -> None:
    """Stop the local broker cleanly (SIGTERM, then SIGKILL after a timeout)."""
    stopped = kafka_local.down(say=_say)
    typer.echo("stopped" if stopped else "not running")


@app.command()
def status() -> None:
    """Say whether the local broker runs (exit code 0) or not (exit code 3)."""
    st = kafka_local.status()
    typer.echo(st.describe())
    if not st.running:
        raise typer.Exit(3)
