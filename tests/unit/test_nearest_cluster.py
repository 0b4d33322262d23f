"""A tier year's overall level with its reasons: the distance to every cluster and the figure
that pulled it, for the struggling team that reads "High" overall beside Medium and Low badges."""

from __future__ import annotations

import math

import pytest

from dora.metrics.levels import CHANGE_FAILURE_RATE, LEAD_TIME, nearest_cluster
from dora.reads.figures import nearest_text

# 2024 clusters as Quick Check scores (METRICS §3.6; category c -> (c - 1) * 2, CFR p -> 10 - p/10):
#            frequency  lead time  recovery  CFR
#   elite    10         8          10        9.5 (5%)
#   high      6         6           8        8.0 (20%)
#   medium    4         4           8        9.0 (10%)
#   low       2         2           4        6.0 (40%)
# The team: F4 -> 6, D3 (17 days) -> 4, D5 -> 8, CFR 25% -> 7.5.
TEAM = {
    "deployment_frequency": "F4",
    "lead_time": "D3",
    "recovery": "D5",
    "change_failure_rate": 0.25,
}


def test_nearest_cluster_gives_every_distance_and_the_pull() -> None:
    nearest = nearest_cluster(2024, **TEAM)
    assert nearest is not None and nearest.level == "high"
    distances = {c.level: c.distance for c in nearest.clusters}
    # elite 16+16+4+4 = 40; high 0+4+0+0.25 = 4.25; medium 4+0+0+2.25 = 6.25; low 16+4+16+2.25
    assert distances == pytest.approx(
        {
            "elite": math.sqrt(40),
            "high": math.sqrt(4.25),
            "medium": 2.5,
            "low": math.sqrt(38.25),
        }
    )
    # Lead time is 2 points below High's 6: 4 of the 4.25, the CFR 0.5 below: 0.25 of it.
    pulls = dict(nearest.pulls)
    assert list(pulls)[0] == LEAD_TIME
    assert pulls[LEAD_TIME] == pytest.approx(4 / 4.25)
    assert pulls[CHANGE_FAILURE_RATE] == pytest.approx(0.25 / 4.25)
    # Alone: lead time 4 is Medium's; CFR 7.5 is 0.5 from High, 1.5 from Medium and Low.
    alone = dict(nearest.alone)
    assert alone[LEAD_TIME] == "medium" and alone[CHANGE_FAILURE_RATE] == "high"
    assert alone["recovery"] == "medium"  # 8 is both High's and Medium's: the lower level


def test_nearest_text_names_the_figure_that_pulled_it() -> None:
    text = nearest_text(nearest_cluster(2024, **TEAM))
    assert text is not None
    assert text["year"] == 2024 and text["level"] == "high"
    assert [(c["level"], c["distance"], c["chosen"]) for c in text["clusters"]] == [
        ("elite", "6.32", False),
        ("high", "2.06", True),
        ("medium", "2.50", False),
        ("low", "6.18", False),
    ]
    lead = next(r for r in text["rows"] if r["label"] == "Lead time for changes")
    assert lead == {
        "label": "Lead time for changes",
        "team": "4.0",
        "published": ["8.0", "6.0", "4.0", "2.0"],
        "off": "-2.0",
    }
    assert text["sentence"] == (
        "Against High: lead time for changes -2.0, change failure rate -0.5 score points. "
        "Lead time for changes pulled furthest: 94% of the squared distance to High; on its "
        "own it is nearest to Medium."
    )


def test_nearest_cluster_is_none_for_2025_and_without_badges() -> None:
    assert nearest_cluster(2025, **TEAM) is None
    assert nearest_cluster(2024) is None
    assert nearest_text(None) is None
