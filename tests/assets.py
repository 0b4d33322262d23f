"""What a rendered page loads: the sources of its <script src> and <link href>, read with an
HTML parser, so a test checks that everything comes from our own host without matching text
(a random CSRF token may well contain "cdn")."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src") is not None:
            self.found.append(("script", attributes["src"] or ""))
        elif tag == "link" and attributes.get("href") is not None:
            self.found.append(("link", attributes["href"] or ""))


def page_assets(html: str) -> list[tuple[str, str]]:
    """(tag, URL) of every <script src=...> and <link href=...> in `html`, in page order."""
    parser = _Assets()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_local_assets(html: str, *, context: object = "") -> list[tuple[str, str]]:
    """Every script and link of the page is a path on our host: no scheme, no host (nor a
    protocol-relative //host), not empty. Returns them for further checks."""
    assets = page_assets(html)
    for tag, url in assets:
        parts = urlsplit(url)
        assert url and not parts.scheme and not parts.netloc and not url.startswith("//"), (
            context,
            tag,
            url,
        )
    return assets
