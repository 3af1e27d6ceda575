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


def _imports() -> dict[str, set[str]]:
    js = STATIC / "js"
    return {m.name: set(re.findall(r'from "\./([^"]+)"', m.read_text())) for m in js.glob("*.js")}


def test_the_modules_import_no_cycle() -> None:
    """Issue 25, item 5: app.js imported the pages and two pages imported app.js (route,
    session); those live in session.js now, so the modules load in one order."""
    graph = _imports()
    assert "app.js" not in set().union(*graph.values()), "a module imports the shell"
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for nxt in graph.get(name, set()):
            visit(nxt, (*path, name))
        done.add(name)

    for module in graph:
        visit(module, ())
