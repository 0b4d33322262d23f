"""selectors.integration_frames: the commits and pull requests integration frequency counts,
read with COPY on PostgreSQL and as plain rows on SQLite, the same either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dora.models import Change, Commit
from dora.reads import selectors

pytestmark = pytest.mark.django_db

SINCE = datetime(2026, 3, 2, tzinfo=UTC)
UNTIL = datetime(2026, 3, 30, tzinfo=UTC)


def commit(sha: str, authored: datetime, repo: str = "acme/shop") -> None:
    Commit.objects.create(
        source="test", external_id=sha, repo=repo, sha=sha, author="ann", authored_at=authored
    )


def change(number: int, created: datetime, repo: str = "acme/shop", **times: datetime) -> None:
    Change.objects.create(
        source="test",
        external_id=str(number),
        repo=repo,
        number=number,
        author="bo",
        created_at=created,
        **times,
    )


def test_commits_and_changes_of_the_window() -> None:
    commit("a1", SINCE)  # the window's first moment: in
    commit("a2", UNTIL - timedelta(microseconds=1))  # its last: in
    commit("a3", UNTIL)  # out
    commit("a4", SINCE - timedelta(seconds=1))  # out
    commit("b1", SINCE + timedelta(days=1), repo="acme/other")  # another repo: out
    day = timedelta(days=1)
    change(1, SINCE - 3 * day, merged_at=SINCE + day, started_at=SINCE - 5 * day)  # merged: in
    change(2, SINCE + 2 * day)  # open at until: in, starts when created
    change(3, SINCE + 2 * day, closed_at=SINCE + 4 * day)  # closed before until: out
    change(4, SINCE - 3 * day, merged_at=SINCE - day)  # merged before the window: out
    change(5, SINCE + 2 * day, merged_at=UNTIL + day)  # merged after until: open then, in
    change(6, UNTIL - timedelta(days=200))  # open, but created over half a year before: out
    change(7, SINCE + day, repo="acme/other", merged_at=SINCE + 2 * day)  # another repo: out

    commits, changes = selectors.integration_frames(["acme/shop"], since=SINCE, until=UNTIL)

    assert sorted(commits["sha"]) == ["a1", "a2"]
    assert set(commits.columns) == {"repo", "sha", "author", "authored_at"}
    assert str(commits["authored_at"].dt.tz) == "UTC"
    rows = (
        changes.assign(
            number=changes["change_id"].map(dict(Change.objects.values_list("id", "number")))
        )
        .set_index("number")
        .sort_index()
    )
    assert list(rows.index) == [1, 2, 5]
    assert rows.loc[1, "start"] == pd.Timestamp(SINCE - 5 * day)  # started_at
    assert rows.loc[2, "start"] == pd.Timestamp(SINCE + 2 * day)  # created_at
    assert pd.isna(rows.loc[2, "merged_at"]) and pd.isna(rows.loc[2, "closed_at"])
    assert rows.loc[5, "merged_at"] == pd.Timestamp(UNTIL + day)
    assert set(rows["author"]) == {"bo"} and set(rows["repo"]) == {"acme/shop"}


def test_nothing_in_the_repos() -> None:
    commits, changes = selectors.integration_frames(["acme/none"], since=SINCE, until=UNTIL)

    assert commits.empty and changes.empty
    assert "authored_at" in commits.columns and "start" in changes.columns
