"""The `campaignflow` command. Each area registers its own commands from its own module."""

from __future__ import annotations

import typer

from campaignflow import (
    cli_campaign,
    cli_contacts,
    cli_dev,
    cli_dialer,
    cli_kafka,
    cli_simulate,
    cli_sink,
    cli_topics,
    cli_worker,
)

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Outbound-call campaigns on Kafka."
)

app.add_typer(cli_kafka.app, name="kafka", help="The local Apache Kafka broker (KRaft).")
cli_simulate.register(app)
app.add_typer(cli_topics.app, name="topics", help="Topic catalogue on the broker; schema releases.")
cli_dialer.register(app)
cli_sink.register(app)
app.add_typer(
    cli_campaign.app,
    name="campaign",
    help="Create campaigns; start, pause, resume, cancel, schedule, list.",
)
app.add_typer(cli_contacts.app, name="contacts", help="Add contacts to a campaign by hand.")
cli_worker.register(app)

app.add_typer(cli_dev.app, name="dev", help="The local stack: broker, worker, dialer, sink.")
cli_dev.register_root(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
