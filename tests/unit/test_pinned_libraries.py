"""The libraries under the worker are the versions `streams/pinned.py` was written against.

If one of these fails after an upgrade, read the entry it names against the new release
before changing the pin: the worker uses private names that may mean something else now.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from importlib.metadata import version
from typing import Any

import pytest

from streams.pinned import COPIED_SOURCES, PINNED_VERSIONS, PRIVATE_NAMES, PrivateName


def resolve(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def source_of(cls: type) -> str:
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):  # built-in or generated classes (abc, object)
        return ""


@pytest.mark.parametrize("dist", sorted(PINNED_VERSIONS))
def test_installed_version_is_the_pinned_one(dist: str) -> None:
    assert version(dist) == PINNED_VERSIONS[dist], (
        f"{dist} {version(dist)} is installed, streams/pinned.py was written against "
        f"{PINNED_VERSIONS[dist]}: check every private name it lists"
    )


@pytest.mark.parametrize("entry", PRIVATE_NAMES, ids=lambda e: f"{e.owner}.{e.name}")
def test_private_name_still_exists(entry: PrivateName) -> None:
    owner = resolve(entry.owner)
    if hasattr(owner, entry.name):
        return
    # An instance attribute: set as self.<name> somewhere in the class (or a base).
    sources = "".join(source_of(cls) for cls in inspect.getmro(owner))
    assert f"self.{entry.name}" in sources, f"{entry.owner} has no {entry.name} ({entry.used_in})"


@pytest.mark.parametrize("copied", COPIED_SOURCES, ids=lambda c: c.function)
def test_copied_function_unchanged_upstream(copied: Any) -> None:
    source = inspect.getsource(resolve(copied.function))
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest == copied.sha256, (
        f"{copied.function} changed upstream: port the change into {copied.copied_to}"
    )


def test_pyproject_pins_them_exactly() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    for dist, pinned in PINNED_VERSIONS.items():
        assert f'"{dist}=={pinned}"' in text, f"pyproject.toml does not pin {dist}=={pinned}"
