"""The `campaignflow` command. Each area registers its own commands from its own module."""

from __future__ import annotations

import sys

import typer
from confluent_kafka import KafkaException

try:  # typer >= 0.20 vendors click; older versions use click itself
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[no-redef,assignment]

from campaignflow import (
    cli_api,
    cli_campaign,
    cli_contacts,
    cli_deadletter,
    cli_dev,
    cli_dialer,
    cli_dnc,
    cli_kafka,
    cli_simulate,
    cli_sink,
    cli_topics,
    cli_worker,
)
from campaignflow.config import settings
from campaignflow.runtime import mask_numbers_in_logs, private_state
from campaigns.textsafe import visible_lines
from topics.clients import BrokerUnreachable
from topics.codec import use_schema_registry
from topics.exceptions import TopicStalled

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Outbound-call campaigns on Kafka."
)


@app.callback()
def _configure() -> None:
    # Before every command (also when the app is invoked without `main`, as tests do):
    # the one process-wide setting below the command line, the codec's framing; and
    # private files (0600) and directories (0700) for whatever the command creates.
    private_state(settings().home)
    use_schema_registry(settings().schema_registry_url)


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
app.add_typer(cli_dnc.app, name="dnc", help="Do-not-call lists: add, remove, import, list, export.")
cli_worker.register(app)

app.add_typer(cli_dev.app, name="dev", help="The local stack: broker, worker, dialer, sink.")
cli_dev.register_root(app)
app.add_typer(cli_api.app, name="accounts", help="Accounts, API keys and subscriptions.")
cli_api.register(app)
app.add_typer(
    cli_deadletter.app, name="deadletter", help="List parked records; replay one to its topic."
)


def main() -> None:
    """Run the CLI; a usage error is one line on stderr and exit code 2."""
    mask_numbers_in_logs()
    private_state(settings().home)
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as err:
        err.show()
        sys.exit(2)
    except UsageError as err:
        where = err.ctx.command_path if err.ctx else "campaignflow"
        print(visible_lines(f"{where}: {err.format_message()}"), file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        sys.exit(1)
    except (BrokerUnreachable, TopicStalled) as err:
        print(f"campaignflow: {visible_lines(err)}", file=sys.stderr)
        sys.exit(1)
    except KafkaException as err:
        detail = err.args[0].str() if err.args and hasattr(err.args[0], "str") else str(err)
        print(
            f"campaignflow: broker {settings().bootstrap}: {visible_lines(detail)}"
            " (is it up? campaignflow kafka up)",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
