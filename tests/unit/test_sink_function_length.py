"""No function in sinks/ is over 60 lines (issue 25 item 3: the query endpoint's handler
was one 136-line closure; it is a class of small methods and two pure functions now)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sinks import server

pytestmark = pytest.mark.unit

SINKS = Path(server.__file__).resolve().parent
MAX_LINES = 60


def test_no_function_in_sinks_is_over_60_lines() -> None:
    long = []
    for path in sorted(SINKS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


class _Headers(dict[str, str]):
    def get_all(self, name: str) -> list[str] | None:
        return [self[name]] if name in self else None


class _Slow:
    def read(self, n: int) -> bytes:
        raise TimeoutError


def test_the_body_reader_refuses_what_is_not_a_bounded_utf8_query() -> None:
    import io

    def status(headers: dict[str, str], data: bytes = b"") -> int | str:
        got = server.read_body(_Headers(headers), io.BytesIO(data))
        return got if isinstance(got, str) else got.status

    assert status({"Content-Length": "8"}, b"SELECT 1") == "SELECT 1"
    assert status({}) == 411
    assert status({"Content-Length": "8", "Transfer-Encoding": "chunked"}) == 411
    assert status({"Content-Length": "-1"}) == 400
    assert status({"Content-Length": str(server.MAX_QUERY_BYTES + 1)}) == 413
    assert status({"Content-Length": "9"}, b"SELECT 1") == 400  # ended early
    assert status({"Content-Length": "2"}, b"\xff\xfe") == 400
    slow = server.read_body(_Headers({"Content-Length": "5"}), _Slow())
    assert not isinstance(slow, str) and slow.status == 408
