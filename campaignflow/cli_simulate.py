"""`campaignflow simulate`: the engine on a simulated clock and dialer."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
