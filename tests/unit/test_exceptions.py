"""Every exception of the tree is a `CampaignflowError`, defined in its package's exceptions.py."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from campaigns.exceptions import CampaignflowError

PACKAGES = ("campaigns", "topics", "streams", "ingest", "dialer", "sinks", "api", "campaignflow")
# Defined next to what it needs: the problem document it is answered as (api/problems.py).
ELSEWHERE = {"api.problems.ApiProblem"}


def exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in PACKAGES:
        package = importlib.import_module(name)
        modules = [package] + [
            importlib.import_module(info.name)
            for info in pkgutil.walk_packages(package.__path__, f"{name}.")
        ]
        for module in modules:
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__.split(".")[0] in PACKAGES:
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


EXCEPTIONS = exception_classes()


def test_the_tree_has_its_exceptions() -> None:
    assert len(EXCEPTIONS) >= 28, sorted(EXCEPTIONS)


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_every_exception_is_a_campaignflow_error(name: str) -> None:
    assert issubclass(EXCEPTIONS[name], CampaignflowError)


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_every_exception_lives_in_its_packages_exceptions_module(name: str) -> None:
    package = name.split(".")[0]
    assert name.startswith(f"{package}.exceptions.") or name in ELSEWHERE
