"""The definitions behind every figure (docs/DEFINITIONS.md) at a stable URL, and the version
every page's footer and every export names."""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dora.metrics import DEFINITIONS_PATH, DEFINITIONS_URL, DEFINITIONS_VERSION

DEFINITIONS_FILE = Path(settings.BASE_DIR) / "docs" / "DEFINITIONS.md"


def definitions_url(request: HttpRequest | None = None) -> str:
    """Where the current version's changelog entry is: absolute when a request says the host,
    else the path on the server (a management command knows no host)."""
    return request.build_absolute_uri(DEFINITIONS_URL) if request is not None else DEFINITIONS_URL


def definitions_context(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: the footer's version and link."""
    return {"definitions_version": DEFINITIONS_VERSION, "definitions_path": DEFINITIONS_PATH}


@require_GET
def definitions_page(request: HttpRequest) -> HttpResponse:
    """docs/DEFINITIONS.md as a page. Public: it describes how figures are computed, no data."""
    return render(
        request, "dora/definitions.html", {"definitions_html": markdown_html(_definitions_text())}
    )


@require_GET
def definitions_text(request: HttpRequest) -> HttpResponse:
    """docs/DEFINITIONS.md as it is in the repository."""
    return HttpResponse(_definitions_text(), content_type="text/markdown; charset=utf-8")


@lru_cache(maxsize=1)
def _definitions_text() -> str:
    return DEFINITIONS_FILE.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# The Markdown that DEFINITIONS.md uses: headings, paragraphs, bullet lists, `code`, **bold**,
# *emphasis*. Everything is escaped first; no raw HTML passes through.
# ---------------------------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,4})\s+(.*)$")
_BULLET = re.compile(r"^[-*]\s+(.*)$")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _inline(text: str) -> str:
    # Code spans first, set aside, so that **bold** and *emphasis* may contain them.
    codes: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        codes.append(match.group(1))
        return f"\x00{len(codes) - 1}\x00"

    html = escape(re.sub(r"`([^`]*)`", set_aside, text))
    html = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html)
    html = re.sub(r"\*(.+?)\*", r"<em>\1</em>", html)
    return re.sub(r"\x00(\d+)\x00", lambda m: f"<code>{escape(codes[int(m[1])])}</code>", html)


def markdown_html(text: str) -> str:
    """HTML for the Markdown subset above; headings get ids (`## Version 2` -> version-2)."""
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[list[str]] = []

    def flush() -> None:
        if paragraph:
            blocks.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            lis = "".join(f"<li>{_inline(' '.join(item))}</li>" for item in items)
            blocks.append(f"<ul>{lis}</ul>")
            items.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif heading := _HEADING.match(line):
            flush()
            level, title = len(heading.group(1)), heading.group(2)
            blocks.append(f'<h{level} id="{_slug(title)}">{_inline(title)}</h{level}>')
        elif bullet := _BULLET.match(line):
            if paragraph:
                flush()
            items.append([bullet.group(1)])
        elif items and raw.startswith((" ", "\t")):
            items[-1].append(line)  # a list item's continuation line
        else:
            if items:
                flush()
            paragraph.append(line)
    flush()
    return "\n".join(blocks)
