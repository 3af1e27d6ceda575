"""The configuration reference, made from the Settings model so it cannot drift."""

from __future__ import annotations

from campaignflow.config import REPO_ROOT, Settings


def env_name(field: str) -> str:
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, str):
        return alias
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


def reference() -> str:
    """A Markdown table: setting, environment variable, default, meaning."""
    lines = ["| setting | environment variable | default | what it does |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        shown = "(unset)" if default is None else str(default).replace(str(REPO_ROOT), "<repo>")
        lines.append(f"| `{name}` | `{env_name(name)}` | `{shown}` | {info.description or ''} |")
    return "\n".join(lines)


START, END = "<!-- config:start -->", "<!-- config:end -->"


def readme_with_reference(text: str) -> str:
    """README text with the reference between its markers replaced by the current one."""
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{reference()}\n{END}{tail}"
