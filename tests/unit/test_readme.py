from campaignflow.config import REPO_ROOT, Settings
from campaignflow.configdoc import env_name, readme_with_reference


def test_readme_configuration_reference_is_current() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    assert readme_with_reference(text) == text, "run: .venv/bin/campaignflow config --write-readme"
    for field in Settings.model_fields:
        assert f"`{env_name(field)}`" in text
