"""`campaignflow api` (the REST API and console) and `campaignflow accounts ...` (keys, subscriptions, settings).

Accounts are records on the api.accounts compacted topic; these commands write them
directly (they need the broker, not a running API). A key is printed once and only
its SHA-256 is stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from campaignflow.config import settings
from campaigns.textsafe import visible

app = typer.Typer(no_args_is_help=True, help="Accounts, API keys and subscriptions.")
keys = typer.Typer(no_args_is_help=True, help="Add or revoke an account's API keys.")
app.add_typer(keys, name="keys")


def api_config(host: str | None = None, port: int | None = None, webhooks: bool = True):  # type: ignore[no-untyped-def]
    from api.config import ApiSettings
    from api.ratelimit import ApiLimits

    s = settings()
    limits = ApiLimits.hourly(
        s.api_requests_per_hour,
        s.api_creates_per_hour,
        s.api_forecast_contacts_per_hour,
        s.api_max_webhooks,
    )
    return ApiSettings(
        kafka=s.kafka,
        topics=s.topics,
        state_dir=s.home / "api",
        host=host or s.api_host,
        port=port if port is not None else s.api_port,
        webhooks=webhooks,
        limits=limits,
        webhook_allow_loopback=s.api_webhook_allow_loopback,
        analytics=analytics_runner,
    )


def analytics_runner(sql: str) -> list[dict[str, Any]]:
    """/v1/analytics' queries, run as `campaignflow report` runs its own: through the
    running sink's endpoint (embedded ClickHouse: never opened in the API's process, the
    sink owns the directory) or on the server of the DSN."""
    from api.analytics import AnalyticsUnavailable
    from sinks.dsn import ClickHouseUnavailable
    from sinks.query import QueryError, run_query

    s = settings()
    try:
        # open_embedded=False: without a running sink, a QueryError saying so (one probe).
        result = run_query(sql, s.dsn, s.sink_port, s.sink_token_file, open_embedded=False)
    except (QueryError, ClickHouseUnavailable) as err:
        raise AnalyticsUnavailable(str(err)) from None
    return result.dicts()


def operator_key_path() -> Path:
    return settings().home / "api" / "operator.key"


@contextlib.contextmanager
def control_plane() -> Iterator[object]:
    from api.controlplane import ControlPlane

    s = settings()
    cp = ControlPlane(s.kafka, s.topics)
    try:
        cp.start()
    except Exception as err:
        typer.echo(f"accounts: cannot read the control-plane topics: {err}", err=True)
        raise typer.Exit(1) from None
    try:
        yield cp
    finally:
        cp.close()


def _fail(err: Exception) -> None:
    typer.echo(f"accounts: {err}", err=True)
    raise typer.Exit(2)


@app.command("create")
def create(
    account_id: Annotated[str, typer.Argument(help="Account id, e.g. acme")],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    active: Annotated[bool, typer.Option(help="Also activate its subscription")] = False,
) -> None:
    """Create an account and print its first API key (shown once)."""
    from api import accounts

    with control_plane() as cp:
        try:
            new = accounts.create_account(cp, account_id, name)  # type: ignore[arg-type]
        except accounts.AccountError as err:
            _fail(err)
            return
        if active:
            cp.set_subscription(account_id, True)  # type: ignore[attr-defined]
    typer.echo(f"account {new.account_id} created; key {new.key_id} (shown once, store it now):")
    typer.echo(new.key)


@app.command("activate")
def activate(
    account_id: str,
    inactive: Annotated[bool, typer.Option("--inactive", help="Deactivate instead")] = False,
    plan: Annotated[str | None, typer.Option(help="Plan name")] = None,
) -> None:
    """Set the account's subscription (account.status, read by the engine and the API)."""
    with control_plane() as cp:
        if cp.get("account", account_id, account_id) is None:  # type: ignore[attr-defined]
            _fail(ValueError(f"no account {account_id!r}"))
        cp.set_subscription(account_id, not inactive, plan)  # type: ignore[attr-defined]
    typer.echo(f"account {account_id}: subscription {'inactive' if inactive else 'active'}")


@app.command("set")
def set_settings(
    account_id: str,
    lines: Annotated[
        int | None, typer.Option(help="Calls in progress at once, outbound and inbound (SPEC 8)")
    ] = None,
    unlimited: Annotated[
        bool, typer.Option("--unlimited", help="No account limit on lines (clears --lines)")
    ] = False,
    inbound_max_minutes: Annotated[
        float | None, typer.Option(help="An inbound call with no end by then is over")
    ] = None,
) -> None:
    """Set the account's lines and inbound cut-off (account.status, which the worker reads;
    audited in the account's events as by "operator"). Options not given keep their value."""
    from pydantic import ValidationError

    from api import accounts
    from campaigns.models import LineSettings, format_validation_error

    if unlimited and lines is not None:
        _fail(ValueError("--lines and --unlimited: give one of them"))
    with control_plane() as cp:
        if cp.get("account", account_id, account_id) is None:  # type: ignore[attr-defined]
            _fail(ValueError(f"no account {account_id!r}"))
        old = cp.account_settings(account_id)  # type: ignore[attr-defined]
        try:
            new = LineSettings(
                lines=None if unlimited else (old.lines if lines is None else lines),
                inbound_max_minutes=(
                    old.inbound_max_minutes if inbound_max_minutes is None else inbound_max_minutes
                ),
            )
        except ValidationError as err:
            _fail(ValueError("; ".join(format_validation_error(err).splitlines())))
            return
        found = accounts.change_settings(cp, account_id, new, "operator")  # type: ignore[arg-type]
    shown = "no limit" if found.lines is None else str(found.lines)
    typer.echo(
        f"account {account_id}: lines {shown}, inbound_max_minutes {found.inbound_max_minutes:g}"
    )


@app.command("list")
def list_accounts() -> None:
    """Accounts, their live key ids and subscription state."""
    with control_plane() as cp:
        for account_id, _ in sorted(cp._data["account"].items()):  # type: ignore[attr-defined]
            body = cp.get("account", account_id, account_id)  # type: ignore[attr-defined]
            if body is None:
                continue
            live = [k["key_id"] for k in body["keys"] if not k["revoked_at"]]
            sub = cp.subscription(account_id)  # type: ignore[attr-defined]
            name, keys_ = visible(body["name"]), visible(",".join(live) or "-")
            typer.echo(f"{visible(account_id)}\t{name}\tkeys: {keys_}\t{sub.status}")


@keys.command("add")
def keys_add(account_id: str) -> None:
    """Add an API key to an account (printed once)."""
    from api import accounts

    with control_plane() as cp:
        try:
            new = accounts.add_key(cp, account_id)  # type: ignore[arg-type]
        except accounts.AccountError as err:
            _fail(err)
            return
    typer.echo(f"key {new.key_id} of {account_id} (shown once):")
    typer.echo(new.key)


@keys.command("revoke")
def keys_revoke(account_id: str, key_id: str) -> None:
    """Revoke one key by its id; requests with it get 401 at once."""
    from api import accounts

    with control_plane() as cp:
        try:
            accounts.revoke_key(cp, account_id, key_id)  # type: ignore[arg-type]
        except accounts.AccountError as err:
            _fail(err)
    typer.echo(f"key {key_id} of {account_id} revoked")


@app.command("operator-key")
def operator_key() -> None:
    """Print the operator key file's path (created 0600 if missing); the key is in the file."""
    from api import accounts

    path = operator_key_path()
    accounts.operator_key(path)
    typer.echo(str(path))


def register(root: typer.Typer) -> None:
    @root.command("api")
    def api(
        host: Annotated[
            str | None, typer.Option(help="Bind address (default settings: 127.0.0.1)")
        ] = None,
        port: Annotated[int | None, typer.Option(help="Port (default settings: 8080)")] = None,
        webhooks: Annotated[bool, typer.Option(help="Run the webhook dispatcher here")] = True,
        loglevel: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
    ) -> None:
        """Serve the REST API (/v1, /openapi.json) and the web console on HTTP."""
        import uvicorn

        from api.app import create_app
        from campaignflow.config import create_catalogue_topics

        create_catalogue_topics()
        config = api_config(host, port, webhooks)
        uvicorn.run(
            create_app(config),
            host=config.host,
            port=config.port,
            log_level=loglevel,
            access_log=False,
        )


@app.command("predial-secret")
def predial_secret(
    account_id: str,
    replace: Annotated[
        bool, typer.Option("--replace", help="Rotate: overwrite the account's secret")
    ] = False,
) -> None:
    """Create the account's pre-dial secret (printed once; the dialer signs checks with it).

    Written to `<home>/predial/<account_id>.key`, mode 0600, where the dialer reads it.
    """
    from dialer.predial import create_secret

    directory = settings().home / "predial"
    try:
        value = create_secret(directory, account_id, replace=replace)
    except (FileExistsError, ValueError, OSError) as err:
        typer.echo(f"accounts: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"pre-dial secret of {account_id} (shown once; in {directory}):")
    typer.echo(value)
