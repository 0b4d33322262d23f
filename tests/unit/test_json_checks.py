"""dora.json_checks.json_problem: what json.loads accepts but cannot be answered or stored."""

from __future__ import annotations

import json

import pytest

from dora.json_checks import json_problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": [1, 2.5, "x", null, true]}', None),
        ('{"a": "\\u0000"}', None),  # NUL is allowed unless nul=False
        ('{"a": NaN}', "a number that is not finite (nan) at $.a"),
        ('[1, {"b": 1e999}]', "a number that is not finite (inf) at $[1].b"),
        ('{"a": ["\\udc00"]}', "a lone surrogate (not Unicode text) in $.a[0]"),
        ('{"\\ud800x": 1}', "a lone surrogate (not Unicode text) in a key in $"),
        ("[" * 65 + "]" * 65, "nesting deeper than 64 levels at $" + "[0]" * 19),
    ],
)
def test_json_problem_names_the_place(text: str, problem: str | None) -> None:
    found = json_problem(json.loads(text))
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


def test_json_problem_nul_refused_on_request_and_depth_limit_exact() -> None:
    assert json_problem({"a": {"b": "x\u0000"}}, nul=False) == (
        "a NUL character (\\u0000) in $.a.b"
    )
    assert json_problem({"k\u0000": 1}, nul=False) == "a NUL character (\\u0000) in a key in $"
    assert json_problem(json.loads("[" * 64 + "]" * 64)) is None
    assert json_problem(json.loads("[" * 3 + "]" * 3), max_depth=2) is not None
