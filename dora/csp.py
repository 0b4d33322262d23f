"""The Content-Security-Policy header on every response, and the plotly styles it admits.

Everything a page uses comes from this origin: our scripts and stylesheets (static files), plotly's
bundle (dora.staticfiles.PlotlyJsFinder), Swagger UI (drf-spectacular-sidecar). No inline script,
no eval, no framing. The one exception is two <style> elements the plotly bundle adds at run time,
admitted by their exact content (a hash), never by 'unsafe-inline':

- an empty sheet (`plotly.js-style-global`) that plotly then fills through the CSSOM
  (`sheet.insertRule`), which a policy does not govern: its hash is that of the empty string;
- the map library's stylesheet, which the bundle adds with fixed text when it loads.

Both are read from the installed plotly.min.js, so a plotly upgrade brings its own hashes; the
browser tests (tests/browser/test_security_in_chromium.py) fail on any violation Chromium reports.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
from collections.abc import Callable
from functools import lru_cache

from django.http import HttpRequest, HttpResponse

from dora.staticfiles import PLOTLY_PACKAGE_DATA

HEADER = "Content-Security-Policy"
STYLE_ELEMENT = 'createElement("style")'
# How far after `createElement("style")` the bundle sets the element's text (minified code).
TEXT_WITHIN = 400


def style_hash(text: str) -> str:
    """A CSP source for one inline <style> element with exactly this text."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def bundle_style_texts(source: str) -> list[str]:
    """The fixed texts the bundle gives the <style> elements it creates (`x.textContent='...'`
    right after `document.createElement("style")`); plotly's own sheet starts empty."""
    texts = [""]
    start = source.find(STYLE_ELEMENT)
    while start != -1:
        window = source[start : start + TEXT_WITHIN]
        assign = window.find(".textContent=")
        if assign != -1:
            begin = start + assign + len(".textContent=")
            quote = source[begin]
            if quote in "'\"":
                end = begin + 1
                while source[end] != quote:
                    end += 2 if source[end] == "\\" else 1
                raw = source[begin + 1 : end]
                texts.append(codecs.decode(raw, "unicode_escape") if "\\" in raw else raw)
        start = source.find(STYLE_ELEMENT, start + 1)
    return texts


@lru_cache(maxsize=1)
def plotly_style_hashes() -> tuple[str, ...]:
    """The hashes of the <style> elements the installed plotly bundle creates."""
    source = (PLOTLY_PACKAGE_DATA / "plotly.min.js").read_text(encoding="utf-8")
    return tuple(dict.fromkeys(style_hash(text) for text in bundle_style_texts(source)))


def content_security_policy() -> str:
    """The policy every page is served with (one header value)."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", *plotly_style_hashes()],
        # data: for the icons plotly and Swagger UI draw; blob: for plotly's "download plot as
        # PNG" (it draws the chart's SVG as an image from a blob URL the page made itself).
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class ContentSecurityPolicyMiddleware:
    """Adds the policy to every response that has none of its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = content_security_policy()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault(HEADER, self.policy)
        return response
