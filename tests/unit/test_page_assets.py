"""tests/assets.py: the check that a page loads scripts and stylesheets from our host only."""

from __future__ import annotations

import pytest

from tests.assets import assert_local_assets, page_assets

PAGE = """<!doctype html><html><head>
<link rel="icon" href="/static/dora/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/dora/base.css">
<script src="/static/plotly/plotly.min.js" defer></script>
</head><body>
<input type="hidden" name="csrfmiddlewaretoken" value="x7cdnQ2pCDNk9">
<a href="https://cdn.example.com/docs">a link to read is not something the page loads</a>
<script src="api/docs/?script"></script>
</body></html>"""


def test_page_assets_are_the_script_and_link_sources_in_order() -> None:
    assert page_assets(PAGE) == [
        ("link", "/static/dora/favicon.svg"),
        ("link", "/static/dora/base.css"),
        ("script", "/static/plotly/plotly.min.js"),
        ("script", "api/docs/?script"),
    ]


def test_a_csrf_token_holding_cdn_passes() -> None:
    assert len(assert_local_assets(PAGE)) == 4


@pytest.mark.parametrize(
    "tag",
    [
        '<script src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script>',
        '<script src="//cdn.jsdelivr.net/npm/swagger-ui-dist/swagger-ui-bundle.js"></script>',
        '<link rel="stylesheet" href="http://fonts.googleapis.com/css?family=Inter">',
        '<link rel="icon" href="">',
    ],
)
def test_a_script_or_link_from_another_host_fails(tag: str) -> None:
    with pytest.raises(AssertionError):
        assert_local_assets(PAGE.replace("</head>", tag + "</head>"))
