"""`campaignflow kafka up|down|status`: the local broker, or the local 3-node cluster."""

from __future__ import annotations

from typing import Annotated

import typer

from campaignflow import kafka_local
from campaignflow.config import settings

app = typer.Typer(no_args_is_help=True)


def _say(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def up(
    brokers: Annotated[
        int | None,
        typer.Option(
            help="Nodes: 1 (the default broker) or 3 (a replicated KRaft cluster);"
            " default CAMPAIGNFLOW_KAFKA_BROKERS"
        ),
    ] = None,
) -> None:
    """Start the local broker (or reuse the running one); the last line is bootstrap=HOST:PORT[,...]."""
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
def down() -> None:
    """Stop the local broker and every node of the local cluster (SIGTERM, then SIGKILL)."""
    nodes = kafka_local.cluster_down(say=_say)
    stopped = kafka_local.down(say=_say)
    typer.echo("stopped" if stopped or nodes else "not running")


@app.command()
def status() -> None:
    """Say whether the local broker (and each cluster node) runs: exit code 0, or 3 if none does."""
    st = kafka_local.status()
    nodes = [] if st.external else kafka_local.cluster_status()
    if st.external or st.running or not nodes:
        typer.echo(st.describe())
    for node in nodes:
        typer.echo(node.describe())
    if not st.running and not any(n.status.running for n in nodes):
        raise typer.Exit(3)
