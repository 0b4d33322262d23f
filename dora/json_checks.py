"""Parsed JSON this service cannot answer or store, although `json.loads` accepts it."""

from __future__ import annotations

import math
from typing import Any

# Deeper than any document this service reads (events, gate requests, provider webhooks nest a
# handful of levels); far below the interpreter's recursion limit, so encoding never fails.
MAX_DEPTH = 64


def _is_lone_surrogate_free(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_problem(value: Any, *, max_depth: int = MAX_DEPTH, nul: bool = True) -> str | None:
    """What is wrong with `value` (as `json.loads` returned it), or None when nothing is.

    - nesting deeper than `max_depth` arrays and objects;
    - numbers that are not finite: NaN and Infinity (which `json.loads` takes as literals) and
      numbers too large for a float (1e999), which no JSON encoder writes back;
    - strings, keys included, holding a lone surrogate (\\ud800): not Unicode text, so no
      UTF-8 response or database can hold them;
    - with `nul=False`, strings holding NUL (\\u0000), which PostgreSQL's jsonb refuses.

    Walks without recursion; the message names the place, e.g. `$.pull_request.title`.
    """
    stack: list[tuple[Any, str, int]] = [(value, "$", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                shown = path if len(path) <= 60 else f"{path[:60]}..."
                return f"nesting deeper than {max_depth} levels at {shown}"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str):
                    if problem := _text_problem(key, f"a key in {path}", nul=nul):
                        return problem
                    child_path = f"{path}.{key}"
                else:
                    child_path = f"{path}[{key}]"
                stack.append((child, child_path, depth + 1))
        elif isinstance(item, float) and not math.isfinite(item):
            return f"a number that is not finite ({item}) at {path}"
        elif isinstance(item, str) and (problem := _text_problem(item, path, nul=nul)):
            return problem
    return None


def _text_problem(text: str, where: str, *, nul: bool) -> str | None:
    if not _is_lone_surrogate_free(text):
        return f"a lone surrogate (not Unicode text) in {where}"
    if not nul and "\x00" in text:
        return f"a NUL character (\\u0000) in {where}"
    return None
