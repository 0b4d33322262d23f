"""dora.json_checks.json_problem: what json.loads accepts but cannot be answered or stored."""

from __future__ import annotations

import json

import pytest

from dora.json_checks import json_fault, json_problem


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


@pytest.mark.parametrize(
    ("text", "nul", "fault"),
    [
        # The encoder's quick pass must not clear what the walk would refuse, nor let text that
        # only looks suspect ("\\u0000" spelled out, brackets inside strings) be refused.
        ('{"a": "x\\u0000y"}', False, ("a", "a NUL character (\\u0000)")),
        ('{"k\\u0000": 1}', False, ("", "a NUL character (\\u0000)")),
        ('{"a": "\\\\u0000"}', False, None),  # a backslash, then the letters u0000: no NUL
        ('{"a": "[[[[[[[[[[{{{{{{{{{{"}', False, None),  # brackets in a string nest nothing
        ('{"a": [[[1]]], "b": "\\ud800"}', False, ("b", "a lone surrogate (not Unicode text)")),
        ('{"a": {"b": [Infinity]}}', True, ("a.b[0]", "a number that is not finite (inf)")),
        ("[" * 3 + "]" * 3, True, None),
    ],
)
def test_json_fault_quick_pass_agrees_with_the_walk(
    text: str, nul: bool, fault: tuple[str, str] | None
) -> None:
    found = json_fault(json.loads(text), max_depth=4, nul=nul, root="")
    assert (found.path, found.what) == fault if fault else found is None


def test_json_fault_depth_bound_exact_with_the_quick_pass() -> None:
    """A container at depth d needs d + 1 brackets: 4 levels pass max_depth=4, 5 do not."""
    assert json_fault(json.loads("[" * 4 + "]" * 4), max_depth=4) is None
    assert json_fault(json.loads("[" * 5 + "]" * 5), max_depth=4) is not None
