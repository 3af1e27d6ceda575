"""The console works offline: every asset it loads is served from its own directory."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "api" / "console" / "static"
SVG_NS = "http://www.w3.org/2000/svg"


def test_no_asset_comes_from_another_host() -> None:
    own = [p for p in STATIC.rglob("*") if p.suffix in {".html", ".js", ".css", ".svg"}]
    assert own, f"no console files under {STATIC}"
    for path in own:
        if "vendor" in path.parts:
            continue
        text = path.read_text().replace(SVG_NS, "")
        assert not re.search(r"(?i)\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), path


def test_every_local_reference_of_the_page_exists() -> None:
    html = (STATIC / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="(/[^"#]+)"', html)
    assert "/vendor/papaparse.min.js" in refs
    for ref in refs:
        assert (STATIC / ref.lstrip("/")).is_file(), f"{ref} is missing: run make install"
    for module in (STATIC / "js").glob("*.js"):
        for imported in re.findall(r'from "\./([^"]+)"', module.read_text()):
            assert (STATIC / "js" / imported).is_file(), f"{module.name} imports {imported}"
