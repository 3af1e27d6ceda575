"""`campaignflow topics create|list|freeze-schemas`: the catalogue on the broker, the contracts on disk."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("create")
def create() -> None:
    """Create every catalogue topic that is missing (existing topics are left alone)."""
    from campaignflow.config import create_catalogue_topics, settings
    from topics.clients import require_broker

    require_broker(settings().bootstrap)
    for name, outcome in sorted(create_catalogue_topics().items()):
        typer.echo(f"{outcome:8} {name}")


@app.command("list")
def list_() -> None:
    """Show every catalogue topic: exists?, partitions, cleanup policy, schema, key."""
    from campaignflow.config import settings
    from topics.admin import admin_client, list_topics
    from topics.clients import require_broker

    s = settings()
    require_broker(s.bootstrap)
    for st in list_topics(s.topics.catalogue().values(), admin_client(s.kafka)):
        t = st.spec
        have = f"{st.partitions}/{t.partitions}" if st.exists else f"missing/{t.partitions}"
        typer.echo(f"{t.name:40} {have:10} {t.cleanup_policy:8} {t.schema:18} key={t.key}")


@app.command("freeze-schemas")
def freeze_schemas() -> None:
    """Release the current schemas: write schemas/avro/history/<Name>.v<N>.avsc where changed."""
    from topics.schemas import EVENTS, freeze

    for event in EVENTS:
        path = freeze(event)
        typer.echo(f"{'wrote' if path else 'same':6} {path or event}")
