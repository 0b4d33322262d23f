"""duration_label: durations shown the way configuration writes them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dora.web.views import duration_label


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(hours=36), "36h"),
        (timedelta(minutes=30), "30m"),
        (timedelta(seconds=90), "90s"),
        (timedelta(0), "0s"),
        (None, ""),
    ],
)
def test_duration_label_uses_the_largest_whole_unit(value: timedelta | None, label: str) -> None:
    assert duration_label(value) == label
