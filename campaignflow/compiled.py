"""A compiled copy of the engine, built with mypyc; the source tree stays pure Python.

The engine is typed, pure Python, so mypyc (mypy's compiler, the way black and mypy
ship themselves) turns it into C extensions without a line changed. The build goes to
its own directory, never next to the sources, so an edited `.py` is never shadowed by
a stale `.so`: a directory is named by the hash of the sources it was built from.
Put it first on PYTHONPATH to run any command on the compiled engine:

    PYTHONPATH=$(.venv/bin/python -m campaignflow.compiled) .venv/bin/campaignflow simulate ...

`models.py` stays interpreted (pydantic builds its classes at run time).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import mypy.version

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "campaigns"
BUILDS = ROOT / "build" / "compiled-engine"
INTERPRETED = {"__init__.py", "models.py"}


def source_hash() -> str:
    h = hashlib.sha256(f"{sys.version}|{mypy.version.__version__}".encode())
    for path in sorted(SOURCE.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def build(quiet: bool = True) -> Path:
    """The directory holding the compiled `campaigns` package; built if missing."""
    dest = BUILDS / source_hash()
    if (dest / "campaigns" / ".complete").exists():
        return dest
    shutil.rmtree(BUILDS, ignore_errors=True)  # older builds are of older sources
    package = dest / "campaigns"
    package.mkdir(parents=True)
    (dest / "mypy.ini").write_text("[mypy]\nignore_missing_imports = True\n")
    compiled = []
    for path in sorted(SOURCE.glob("*.py")):
        shutil.copy2(path, package / path.name)
        if path.name not in INTERPRETED:
            compiled.append(f"campaigns/{path.name}")
    result = subprocess.run(
        [sys.executable, "-m", "mypyc", *compiled],
        cwd=dest,
        capture_output=quiet,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mypyc failed in {dest}:\n{result.stdout}\n{result.stderr}")
    shutil.rmtree(dest / "build", ignore_errors=True)
    for name in compiled:  # the copies would only be read if an extension failed to load
        (dest / name).unlink()
    (package / ".complete").touch()
    return dest


if __name__ == "__main__":
    print(build())
