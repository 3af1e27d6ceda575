"""`campaignflow kafka up|down|status`: the local broker."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from campaignflow import kafka_local, kafka_secure

app = typer.Typer(no_args_is_help=True)


def _say(message: str) -> None:
    typer.echo(message, err=True)


Secure = Annotated[
    bool,
    typer.Option(
        "--secure",
        help="The secured broker: SASL/SCRAM users per service and ACLs (its own state and ports).",
    ),
]


@app.command()
def up(secure: Secure = False) -> None:
    """Start the local broker (or reuse the running one); the last line is bootstrap=HOST:PORT."""
    if secure:
        try:
            broker = kafka_secure.up(say=_say)
        except kafka_local.KafkaLocalError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        _say(f'connect as a service: eval "$(campaignflow kafka env {kafka_secure.SERVICES[0]})"')
        typer.echo(f"bootstrap={broker.bootstrap}")
        return
    try:
        st = kafka_local.up(say=_say)
    except kafka_local.KafkaLocalError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not st.started and not st.external:
        _say(f"reusing the running broker (pid {st.pid})")
    typer.echo(f"bootstrap={st.bootstrap}")


@app.command()
def down(secure: Secure = False) -> None:
    """Stop the local broker cleanly (SIGTERM, then SIGKILL after a timeout)."""
    stopped = kafka_secure.down(say=_say) if secure else kafka_local.down(say=_say)
    typer.echo("stopped" if stopped else "not running")


@app.command()
def status(secure: Secure = False) -> None:
    """Say whether the local broker runs (exit code 0) or not (exit code 3)."""
    st = kafka_secure.status() if secure else kafka_local.status()
    typer.echo(st.describe())
    if not st.running:
        raise typer.Exit(3)


@app.command()
def env(
    service: Annotated[str, typer.Argument(help=f"One of {', '.join(kafka_secure.SERVICES)}.")],
) -> None:
    """Shell exports that connect campaignflow commands to the secured broker as SERVICE."""
    if service not in kafka_secure.SERVICES:
        typer.echo(
            f"error: unknown service {service!r}; use {', '.join(kafka_secure.SERVICES)}", err=True
        )
        raise typer.Exit(2)
    layout = kafka_secure.secure_layout()
    if not kafka_secure.credentials_file(layout).exists():
        typer.echo("error: no secured broker yet: campaignflow kafka up --secure", err=True)
        raise typer.Exit(2)
    broker = kafka_secure.SecureBroker(layout, kafka_secure.load_credentials(layout))
    for name, value in broker.env(service).items():
        typer.echo(f"export {name}={shlex.quote(value)}")
