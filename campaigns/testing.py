"""Campaign definitions for tests and benchmarks: one builder instead of one per file.

Why in the package: the tests, the integration rigs and the benchmarks all need a valid
definition with a few rules changed, and each kept its own copy of the same skeleton
(ids, agent, source number, an always-open calling window). Pure, like the engine.
"""

from __future__ import annotations

from typing import Any

from campaigns.models import CampaignDefinition, parse_definition

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Open all day, every day, in UTC: a test's clock never falls outside the window.
ALWAYS_OPEN: dict[str, Any] = {
    "timezone": "UTC",
    "calling_days": EVERY_DAY,
    "calling_window": {"start": "00:00", "end": "24:00"},
}


def definition_record(
    campaign_id: str = "c1",
    *,
    account_id: str = "acme",
    name: str = "Test",
    prompt: str = "Hi {{name}}",
    variable_mapping: dict[str, str] | None = None,
    **rules: Any,
) -> dict[str, Any]:
    """A definition as the mapping campaign.yaml holds; `rules` over ALWAYS_OPEN, a rule
    given as None is left out."""
    merged = {k: v for k, v in {**ALWAYS_OPEN, **rules}.items() if v is not None}
    record: dict[str, Any] = {
        "campaign_id": campaign_id,
        "account_id": account_id,
        "name": name,
        "agent": {"id": "bot", "prompt": prompt},
        "source_number": "+15550100000",
        "rules": merged,
    }
    if variable_mapping is not None:
        record["variable_mapping"] = variable_mapping
    return record


def definition(campaign_id: str = "c1", **options: Any) -> CampaignDefinition:
    """`definition_record(...)`, validated (DefinitionError if the rules do not fit)."""
    return parse_definition(definition_record(campaign_id, **options))
