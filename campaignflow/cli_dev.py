"""`campaignflow dev up|down|status|logs`: the whole local stack in the background."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from campaignflow import devstack
from campaigns.textsafe import visible_lines

app = typer.Typer(no_args_is_help=True)
console = Console()


def _say(message: str) -> None:
    console.print(message, highlight=False)


def _show(rows: list[devstack.ServiceStatus]) -> None:
    table = Table("service", "pid", "port", "answers")
    for r in rows:
        table.add_row(r.name, str(r.pid or "-"), str(r.port), "yes" if r.answers else "no")
    console.print(table)


@app.command()
def up(
    dialer_script: Annotated[
        str | None, typer.Option(help="Outcomes CSV for the simulated dialer")
    ] = None,
    dialer_model: Annotated[
        str | None, typer.Option(help="Outcome shares for the simulated dialer")
    ] = None,
    dialer_time_scale: Annotated[
        float | None, typer.Option(help="Multiply the simulated dialer's waits")
    ] = None,
) -> None:
    """Start broker, topics, worker, simulated dialer and sink (each reused if running)."""
    args: list[str] = []
    if dialer_script:
        args += ["--script", dialer_script]
    if dialer_model:
        args += ["--shares", dialer_model]
    if dialer_time_scale is not None:
        args += ["--time-scale", str(dialer_time_scale)]
    try:
        rows = devstack.up(_say, tuple(args))
    except Exception as err:  # one clear line, then the exit code
        console.print(f"[red]dev up failed:[/red] {err}")
        raise typer.Exit(1) from None
    _show(rows)
    console.print("Stop everything with: campaignflow dev down")


@app.command()
def down() -> None:
    """Stop every process of the stack; leaves nothing running."""
    devstack.down(_say)


@app.command()
def status() -> None:
    """Each process, its port and whether it answers."""
    _show(devstack.status())


@app.command()
def logs(
    name: Annotated[
        str | None, typer.Argument(help="worker, dialer, sink or kafka; all by default")
    ] = None,
    lines: Annotated[int, typer.Option("-n", help="Lines from the end")] = 40,
    follow: Annotated[bool, typer.Option("-f", help="Keep printing new lines")] = False,
) -> None:
    """Print the end of the logs."""
    from campaignflow.config import settings

    logdir = settings().home / "logs"
    paths = sorted(logdir.glob(f"{name}.log" if name else "*.log"))
    if not paths:
        console.print(f"no logs under {logdir}")
        raise typer.Exit(1)
    for p in paths:
        console.rule(str(p))
        print(visible_lines(devstack.tail(p, lines)))  # logs quote user text
    if follow:
        sizes = {p: p.stat().st_size for p in paths}
        while True:
            time.sleep(1)
            for p in paths:
                size = p.stat().st_size
                if size > sizes[p]:
                    with p.open("rb") as f:
                        f.seek(sizes[p])
                        print(visible_lines(f.read().decode(errors="replace")), end="")
                    sizes[p] = size


def register_root(root: typer.Typer) -> None:
    """Top-level commands of this module: `demo` and `config`."""

    @root.command()
    def config(
        write_readme: Annotated[bool, typer.Option(help="Rewrite the table in README.md")] = False,
    ) -> None:
        """Print every setting, its environment variable and its default (Markdown)."""
        from campaignflow.config import REPO_ROOT
        from campaignflow.configdoc import readme_with_reference, reference

        if write_readme:
            path = REPO_ROOT / "README.md"
            path.write_text(readme_with_reference(path.read_text()))
            return
        print(reference())

    @root.command()
    def demo() -> None:
        """Run the sample campaign through the whole local stack and print its report."""
        from campaignflow import demo as demo_run

        raise typer.Exit(demo_run.run(console))
