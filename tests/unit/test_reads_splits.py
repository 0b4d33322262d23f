"""dora.reads.splits.RowsSplitter: each group's rows are those of the straightforward split (the
frame's rows of the group's services, in the frame's order, indexed from 0), on random frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dora.reads.splits import RowsSplitter


def random_frame(rng: np.random.Generator, rows: int, services: list[str]) -> pd.DataFrame:
    """Rows of random services (some without one), with a column of each kind the figures read."""
    names = rng.choice(
        [*services, None], size=rows, p=[0.95 / len(services)] * len(services) + [0.05]
    )
    moments = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.integers(0, 10**9, size=rows)), unit="s"
    )
    return pd.DataFrame(
        {
            "service": pd.array(names, dtype="str"),
            "first_live_at": moments,
            "counted": rng.random(rows) < 0.7,
            "gap_seconds": np.where(rng.random(rows) < 0.2, np.nan, rng.random(rows) * 1e5),
            "kind": pd.array(rng.choice(["change", "config", "redeploy"], size=rows), dtype="str"),
        },
        index=rng.permutation(rows) + 1000,  # an index of its own, not kept
    )


def straightforward(frame: pd.DataFrame, groups: dict[str, object], columns: list[str]) -> dict:
    result = {}
    for key in dict.fromkeys(groups.values()):
        members = [name for name, group in groups.items() if group == key]
        rows = frame[frame["service"].isin(members)].loc[:, columns].reset_index(drop=True)
        if len(rows):
            result[key] = rows
    return result


@pytest.mark.parametrize("seed", range(6))
def test_rows_splitter_matches_the_straightforward_split(seed: int) -> None:
    rng = np.random.default_rng(seed)
    services = [f"svc-{i}" for i in range(int(rng.integers(1, 40)))]
    frame = random_frame(rng, int(rng.integers(0, 3000)), services)
    columns = ["first_live_at", "counted", "gap_seconds", "kind"]
    splitter = RowsSplitter(frame, columns)
    teams = [f"team-{i}" for i in range(int(rng.integers(1, 8)))] + [None]
    groupings = [
        {name: name for name in services},  # by service
        {name: teams[int(rng.integers(len(teams)))] for name in services},  # by team
        # Some services left out, one not in the frame, groups in a shuffled order.
        {
            name: str(rng.integers(3))
            for name in rng.permutation([*services, "absent"])
            if rng.random() < 0.7
        },
    ]
    for groups in groupings:  # one splitter, several groupings
        split = splitter.split(groups)
        expected = straightforward(frame, groups, columns)
        assert list(split) == list(expected)
        for key, rows in expected.items():
            pd.testing.assert_frame_equal(split[key], rows, obj=str(key))
    assert list(splitter.empty.columns) == columns and splitter.empty.empty


def test_rows_splitter_of_a_frame_without_columns_counts_rows() -> None:
    frame = pd.DataFrame({"service": pd.array(["a", "b", "a", None, "c"], dtype="str")})
    split = RowsSplitter(frame, ()).split({"a": "x", "b": "y", "c": "x"})
    assert {key: len(rows) for key, rows in split.items()} == {"x": 3, "y": 1}
