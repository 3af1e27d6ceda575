"""`make bench`: run every benchmark here and write one table to BENCHMARKS.md.

Each benchmark prints its own figures; the last line starting with `BENCH ` is a
JSON list of {figure, value, baseline, ratio, target} rows collected here. Its
whole output goes into the file too, so nothing printed is lost.

    .venv/bin/python benchmarks/run_all.py [--only engine,sink] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ORDER = [
    "engine",
    "compliance",
    "account_round",
    "ingest",
    "worker",
    "dialer",
    "sink",
    "api",
    "e2e",
]
SCRIPTS = {"compliance": "engine"}  # benchmark name -> file, where they differ
# The issues' sizes where a benchmark's defaults are smaller.
FULL_ARGS = {
    "compliance": ["--compliance", "--contacts", "1000000"],
    "worker": [
        "--contacts",
        "100000",
        "--concurrency",
        "1000",
        "--idle",
        "10000",
        "--recovery-contacts",
        "1000000",
    ],
}
QUICK_ARGS = {
    "compliance": ["--compliance", "--contacts", "100000"],
    "engine": ["--sizes", "1000,100000"],
    "ingest": ["--rows", "100000"],
}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def run(name: str, extra: list[str]) -> tuple[list[dict[str, object]], str, float, int]:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(HERE / f"{SCRIPTS.get(name, name)}.py"), *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    output = proc.stdout + (f"\n[stderr]\n{proc.stderr[-4000:]}" if proc.returncode else "")
    rows: list[dict[str, object]] = []
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            rows = json.loads(line[len("BENCH ") :])
    return rows, output, time.monotonic() - t0, proc.returncode


def previous(path: Path) -> tuple[str, dict[tuple[str, str], str]]:
    """The last table's run line and its values by (benchmark, figure): the "before" column."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return "", {}
    stamp = next((x[4:20] for x in lines if x.startswith("Run ")), "")
    values: dict[tuple[str, str], str] = {}
    column = 2
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| benchmark |"):
            column = cells.index("value")
        elif line.startswith("| ") and len(cells) > column and not line.startswith("|---"):
            values.setdefault((cells[0], cells[1]), cells[column])
        elif line.startswith("## "):
            break
    return stamp, values


def fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="")
    p.add_argument("--quick", action="store_true", help="smaller sizes where a benchmark allows")
    args = p.parse_args()
    names = [
        n
        for n in ORDER
        if (HERE / f"{SCRIPTS.get(n, n)}.py").exists()
        and (not args.only or n in args.only.split(","))
    ]
    before_stamp, before = previous(ROOT / "BENCHMARKS.md")
    table = [
        f"| benchmark | figure | before ({before_stamp or 'no earlier run'}) | value | baseline | ratio | target |",
        "|---|---|---|---|---|---|---|",
    ]
    details = []
    failed: list[str] = []
    for name in names:
        print(f"== {name}", flush=True)
        extra = QUICK_ARGS.get(name, []) if args.quick else FULL_ARGS.get(name, [])
        rows, output, seconds, code = run(name, extra)
        print(output, flush=True)
        if code:
            failed.append(f"{name} (exit {code})")
            table.append(f"| {name} | FAILED (exit {code}) | | | | | |")
        for r in rows:
            figure = str(r.get("figure", ""))
            was = before.get((name, figure), "-")
            table.append(
                f"| {name} | {figure} | {was} | {fmt(r.get('value'))} | {fmt(r.get('baseline'))} | {fmt(r.get('ratio'))} | {r.get('target', '')} |"
            )
        details.append(f"### {name} ({seconds:.0f} s)\n\n```\n{output.strip()}\n```\n")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            f"Run {stamp} by `make bench` on {machine()}.",
            "The machine is shared and noisy: read the ratios against each baseline (measured in the same run), not the absolute figures.",
            "",
            *table,
            "",
            "## Full output",
            "",
            *details,
        ]
    )
    if failed:
        # A failed run never replaces the last good table; its output goes beside it.
        out = ROOT / "build" / "BENCHMARKS.failed.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        print(f"FAILED: {', '.join(failed)}; BENCHMARKS.md left as it was, this run in {out}")
        sys.exit(1)
    (ROOT / "BENCHMARKS.md").write_text(text + "\n")
    print(f"wrote {ROOT / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()
