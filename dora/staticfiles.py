"""A static files finder for plotly's own JavaScript bundle, served as `plotly/plotly.min.js`.

The plotly Python package ships plotly.min.js (4.6 MB) under plotly/package_data/; this finder
lets runserver, whitenoise and collectstatic find it there, so the dashboards never load it from a
CDN and the repository does not carry a copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_JS_PATH = "plotly/plotly.min.js"
PLOTLY_PACKAGE_DATA = Path(plotly.__file__).resolve().parent / "package_data"


class PlotlyJsFinder(BaseFinder):
    """Finds exactly one file: `plotly/plotly.min.js` in the installed plotly package."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=str(PLOTLY_PACKAGE_DATA))
        self.storage.prefix = "plotly"

    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        find_all = find_all or bool(kwargs.get("all"))  # Django < 6.1 still passes all=
        if path == PLOTLY_JS_PATH:
            found = str(PLOTLY_PACKAGE_DATA / "plotly.min.js")
            return [found] if find_all else found
        return [] if find_all else ""

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        yield "plotly.min.js", self.storage
