"""campaign.yaml: duplicate keys and deep nesting are clear errors (issue 17, item 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigns.models import DefinitionError, definition_from_yaml
from ingest.definitions import load_definition

pytestmark = pytest.mark.unit

SPEC = Path(__file__).resolve().parents[2] / "examples" / "spec" / "campaign.yaml"


def test_a_duplicate_key_names_the_key_and_both_lines() -> None:
    text = SPEC.read_text().replace(
        "  timezone: America/New_York", "  timezone: America/New_York\n  timezone: UTC"
    )
    with pytest.raises(DefinitionError) as err:
        definition_from_yaml(text, "c.yaml")
    assert str(err.value) == "c.yaml: line 17: duplicate key 'timezone' (first at line 16)"


def test_a_duplicate_top_level_key_is_refused_too() -> None:
    text = SPEC.read_text() + "name: Another name\n"
    with pytest.raises(DefinitionError, match=r"duplicate key 'name' \(first at line 3\)"):
        definition_from_yaml(text)


def test_deep_nesting_is_a_definition_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(SPEC.read_text() + "description: " + "[" * 20_000 + "]" * 20_000 + "\n")
    with pytest.raises(DefinitionError) as err:
        load_definition(path)
    assert str(err.value).startswith(f"{path}: line ") and "nested more than 32 levels" in str(
        err.value
    )


def test_the_example_still_loads() -> None:
    assert load_definition(SPEC).campaign_id == "spring-renewals"
