"""`campaignflow kafka up|down|status`: the local broker, or the local 3-node cluster."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from campaignflow import kafka_local, kafka_secure
from campaignflow.config import settings

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
def up(
    secure: Secure = False,
    brokers: Annotated[
        int | None,
        typer.Option(
            help="Nodes: 1 (the default broker) or 3 (a replicated KRaft cluster);"
            " default CAMPAIGNFLOW_KAFKA_BROKERS"
        ),
    ] = None,
) -> None:
    """Start the local broker (or reuse the running one); the last line is bootstrap=HOST:PORT[,...]."""
    if secure:
        try:
            broker = kafka_secure.up(say=_say)
        except kafka_local.KafkaLocalError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        _say(f'connect as a service: eval "$(campaignflow kafka env {kafka_secure.SERVICES[0]})"')
        typer.echo(f"bootstrap={broker.bootstrap}")
        return
    count = brokers or settings().kafka_brokers
    try:
        if count > 1:
            nodes = kafka_local.cluster_up(count, say=_say)
            for node in nodes:
                if not node.status.started:
                    _say(f"node {node.node_id}: reusing the running node (pid {node.status.pid})")
            if settings().kafka_brokers != count:
                _say(
                    f"clients: export CAMPAIGNFLOW_KAFKA_BROKERS={count} (or KAFKA_BOOTSTRAP_SERVERS)"
                )
            typer.echo("bootstrap=" + ",".join(n.status.bootstrap for n in nodes))
            return
        st = kafka_local.up(say=_say)
    except kafka_local.KafkaLocalError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not st.started and not st.external:
        _say(f"reusing the running broker (pid {st.pid})")
    typer.echo(f"bootstrap={st.bootstrap}")


@app.command()
def down(secure: Secure = False) -> None:
    """Stop the local broker and every node of the local cluster (SIGTERM, then SIGKILL)."""
    if secure:
        typer.echo("stopped" if kafka_secure.down(say=_say) else "not running")
        return
    nodes = kafka_local.cluster_down(say=_say)
    stopped = kafka_local.down(say=_say)
    typer.echo("stopped" if stopped or nodes else "not running")


@app.command()
def status(secure: Secure = False) -> None:
    """Say whether the local broker (and each cluster node) runs: exit code 0, or 3 if none does."""
    if secure:
        sst = kafka_secure.status()
        typer.echo(sst.describe())
        if not sst.running:
            raise typer.Exit(3)
        return
    st = kafka_local.status()
    nodes = [] if st.external else kafka_local.cluster_status()
    if st.external or st.running or not nodes:
        typer.echo(st.describe())
    for node in nodes:
        typer.echo(node.describe())
    if not st.running and not any(n.status.running for n in nodes):
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
