"""Parsed JSON this service cannot answer or store, although `json.loads` accepts it.

One walk (`json_fault`) serves the gate's request parser, the webhooks and event intake, each
with its own limits and wording: `json_problem` says "what at where" for a whole document,
`dora.intake.events` says "field: what" for one event. `json_loads` parses without ever raising
for a number it cannot represent: NotJson stands in for it, so the item holding it can be refused
alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

# Deeper than any document this service reads (events, gate requests, provider webhooks nest a
# handful of levels); far below the interpreter's recursion limit, so encoding never fails.
MAX_DEPTH = 64


class NotJson:
    """A value json.loads would otherwise give as something no database stores: NaN, Infinity,
    a float beyond double range, an integer of thousands of digits."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal if len(literal) <= 40 else f"{literal[:20]}… ({len(literal)} chars)"

    def __repr__(self) -> str:
        return self.literal


def _json_float(text: str) -> float | NotJson:
    value = float(text)
    return value if math.isfinite(value) else NotJson(text)


def _json_int(text: str) -> int | NotJson:
    # Python refuses int() of more than 4300 digits with a ValueError json.loads lets through.
    return int(text) if len(text) <= 100 else NotJson(text)


def json_loads(text: str | bytes) -> Any:
    """json.loads that never raises for a value it cannot represent (NotJson stands in for it).

    Raises json.JSONDecodeError for text that is not JSON, RecursionError for nesting deeper
    than Python's parser goes.
    """
    return json.loads(text, parse_constant=NotJson, parse_float=_json_float, parse_int=_json_int)


@dataclass(frozen=True)
class JsonFault:
    """The first thing found that cannot be stored: where (a path from `root`), what, and
    whether it is in a key (then `path` is the object holding the key) or a value."""

    path: str
    what: str
    in_key: bool = False


def json_fault(
    value: Any, *, max_depth: int = MAX_DEPTH, nul: bool = True, root: str = "$"
) -> JsonFault | None:
    """The first unstorable thing in `value` (as json.loads or json_loads returned it):

    - nesting deeper than `max_depth` arrays and objects;
    - numbers that are not finite: NaN and Infinity (which `json.loads` takes as literals),
      numbers too large for a float (1e999), NotJson;
    - strings, keys included, holding a lone surrogate (\\ud800): not Unicode text, so no
      UTF-8 response or database can hold them;
    - with `nul=False`, strings holding NUL (\\u0000), which PostgreSQL's jsonb refuses.

    Walks without recursion. Paths join with "." after `root` ("$.a[0].b"; with root "",
    "a[0].b"). The walk (and its paths) runs only when `_surely_clean` cannot clear `value`.
    """
    if _surely_clean(value, max_depth=max_depth, nul=nul):
        return None
    stack: list[tuple[Any, str, int]] = [(value, root, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                return JsonFault(path, f"nesting deeper than {max_depth} levels")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    if what := _text_fault(key, nul=nul):
                        return JsonFault(path, what, in_key=True)
                    child_path = f"{path}.{key}" if path else key
                else:
                    child_path = f"{path}[{key}]"
                if not isinstance(child, int | bool | None):
                    stack.append((child, child_path, depth + 1))
        elif isinstance(item, str):
            if what := _text_fault(item, nul=nul):
                return JsonFault(path, what)
        elif isinstance(item, NotJson):
            return JsonFault(path, f"a number that cannot be stored ({item.literal})")
        elif isinstance(item, float) and not math.isfinite(item):
            return JsonFault(path, f"a number that is not finite ({item})")
    return None


def _surely_clean(value: Any, *, max_depth: int, nul: bool) -> bool:
    """Whether `value` certainly holds none of json_fault's faults, checked by the C encoder
    instead of a walk in Python; False only means "walk to find out".

    `json.dumps` raises for NaN, the infinities, NotJson and anything else that is not JSON;
    a lone surrogate survives `ensure_ascii=False` and fails UTF-8 encoding; NUL, which the
    encoder escapes, is looked for as its escape ("\\u0000" in a string only adds a walk). A
    container at depth d needs d + 1 brackets in the text (brackets inside strings only add to
    the count), so fewer than `max_depth` of them clears the depth.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, check_circular=False)
        text.encode("utf-8")
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError is a ValueError
        return False
    if not nul and "\\u0000" in text:
        return False
    return text.count("[") + text.count("{") < max_depth


def json_problem(value: Any, *, max_depth: int = MAX_DEPTH, nul: bool = True) -> str | None:
    """What is wrong with a whole document, naming the place (`$.pull_request.title`), or None."""
    fault = json_fault(value, max_depth=max_depth, nul=nul)
    if fault is None:
        return None
    shown = fault.path if len(fault.path) <= 60 else f"{fault.path[:60]}..."
    if fault.in_key:
        return f"{fault.what} in a key in {shown}"
    if fault.what.startswith("nesting") or fault.what.startswith("a number"):
        return f"{fault.what} at {shown}"
    return f"{fault.what} in {shown}"


def _text_fault(text: str, *, nul: bool) -> str | None:
    if not nul and "\x00" in text:
        return "a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate (not Unicode text)"
    return None
