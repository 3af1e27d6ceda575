"""`campaignflow dialer`: the reference call:create consumer with a simulator or webhook adapter."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from campaignflow.config import settings
from topics.clients import require_broker


def _fail(message: str) -> None:
    typer.echo(f"campaignflow dialer: {message}", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    @app.command("dialer")
    def dialer_command(
        adapter: Annotated[
            str | None, typer.Option(help="simulator | webhook (default: settings)")
        ] = None,
        script: Annotated[
            Path | None,
            typer.Option(
                help="Simulator script CSV: contact_id,attempt,status,duration_seconds[,to]"
            ),
        ] = None,
        time_scale: Annotated[
            float, typer.Option(help="Simulator: multiply every wait (0 = instant outcomes)")
        ] = 1.0,
        shares: Annotated[
            str | None,
            typer.Option(
                help="Simulator outcome shares, e.g. answered=0.3,no_answer=0.5,busy=0.2;"
                " callback=0.05: that share of answered calls asks for a callback in 1-4 h"
            ),
        ] = None,
        seed: Annotated[int, typer.Option(help="Simulator seed")] = 0,
        inbound_rate: Annotated[
            float,
            typer.Option(
                help="Simulator: inbound calls per minute per account (on its agents; 0 = none)"
            ),
        ] = 0.0,
        inbound_median_seconds: Annotated[
            float,
            typer.Option(help="Simulator: median length of an inbound call (log-normal)"),
        ] = 120.0,
        concurrency: Annotated[
            int | None, typer.Option(help="Calls in progress at once (default: settings)")
        ] = None,
        dialer_id: Annotated[str | None, typer.Option(help="Id of this dialer instance")] = None,
        group_id: Annotated[str | None, typer.Option(help="Consumer group")] = None,
        metrics_port: Annotated[
            int | None, typer.Option(help="Prometheus port (0 = off; default: settings)")
        ] = None,
    ) -> None:
        """Consume call:create, place calls through an adapter, publish outcomes."""
        from prometheus_client import start_http_server

        from dialer.adapter import Adapter
        from dialer.script import ScriptError, load_script
        from dialer.service import Dialer
        from dialer.simulator import SimulatorAdapter, SimulatorConfig, parse_shares
        from dialer.webhook import WebhookAdapter

        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
        )
        s = settings()
        kind = adapter or s.dialer_adapter
        if concurrency is not None and concurrency < 1:
            _fail("--concurrency must be >= 1")
        options = s.dialer(dialer_id=dialer_id, concurrency=concurrency, group_id=group_id)
        chosen: Adapter
        if kind == "simulator":
            try:
                config = SimulatorConfig(
                    seed=seed,
                    time_scale=time_scale,
                    inbound_per_minute=inbound_rate,
                    inbound_median_seconds=inbound_median_seconds,
                    script=load_script(script) if script else SimulatorConfig().script,
                )
                if shares:
                    config.shares = parse_shares(shares)
                    config.__post_init__()
            except (ScriptError, ValueError) as exc:
                _fail(str(exc))
            chosen = SimulatorAdapter(config)
        elif kind == "webhook":
            if not s.dialer_webhook_url or not s.dialer_webhook_secret:
                _fail(
                    "the webhook adapter needs CAMPAIGNFLOW_DIALER_WEBHOOK_URL and"
                    " CAMPAIGNFLOW_DIALER_WEBHOOK_SECRET"
                )
            try:
                chosen = WebhookAdapter(
                    s.dialer_webhook_url or "",
                    s.dialer_webhook_secret or "",
                    callback_host=s.dialer_callback_host,
                    callback_port=s.dialer_callback_port,
                    callback_url=s.dialer_callback_url,
                    timeout=s.dialer_webhook_timeout_seconds,
                    retries=s.dialer_webhook_retries,
                    backoff=s.dialer_webhook_backoff_seconds,
                    dialer_id=options.dialer_id,
                    previous_secret=s.dialer_webhook_previous_secret,
                    tolerance_s=s.dialer_webhook_tolerance_seconds,
                )
            except ValueError as exc:
                _fail(str(exc))
                return
        else:
            _fail(f"unknown adapter {kind!r}; use simulator or webhook")
            return
        require_broker(options.kafka.bootstrap)
        port = s.dialer_metrics_port if metrics_port is None else metrics_port
        if port:
            start_http_server(port, addr=s.dialer_metrics_bind)
        typer.echo(
            f"dialer {options.dialer_id}: adapter={chosen.name} concurrency={options.concurrency}"
            f" group={options.group_id} bootstrap={s.bootstrap}",
            err=True,
        )

        async def main() -> None:
            dialer = Dialer(chosen, options)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, dialer.stop)
            await dialer.run()

        asyncio.run(main())
