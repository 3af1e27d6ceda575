"""Reading a campaign definition file: the I/O half of `campaigns.models.definition_from_yaml`."""

from __future__ import annotations

from pathlib import Path

from campaigns.models import CampaignDefinition, DefinitionError, definition_from_yaml


def load_definition(path: str | Path) -> CampaignDefinition:
    """Read and validate campaign.yaml; every error names the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise DefinitionError(f"{p}: cannot read: {err.strerror}") from None
    return definition_from_yaml(text, str(p))
