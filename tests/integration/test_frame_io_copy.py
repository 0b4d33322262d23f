"""dora.reads.frame_io reads a COPY through libpq's own calls (`_copy_out`): every row, every
value as the ORM reads it, hostile text included; a failing statement raises PostgreSQL's error
and leaves the connection usable; a statement too long to send at once still goes.
"""

from __future__ import annotations

import math
import os
import random
import resource
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest
from django.db import connection, transaction
from django.db.models import ExpressionWrapper, F, IntegerField, Value
from django.db.models.functions import Cast, Length

from dora.lookups import Many
from dora.models import Change, PipelineRun
from dora.reads.frame_io import _array_literal, _frame

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's"),
]

# Text CSV and the COPY protocol must carry unchanged: the separator, quotes, line ends, the
# null marker and COPY's end-of-data marker as values, backslashes, braces (array literals),
# leading and trailing spaces, the empty string, and characters beyond ASCII.
HOSTILE = [
    "",
    " ",
    ",",
    '"',
    '""',
    'say "hi", then go',
    "line one\nline two",
    "carriage\rreturn",
    "\r\n",
    "\\N",
    "\\.",
    "back\\slash",
    "{braces,too}",
    "  padded  ",
    "NULL",
    "null",
    "tab\there",
    "émoji 🚀 ünïcode ✓",
    "a" * 500,
]


def _changes(titles: list[str]) -> list[Change]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return Change.objects.bulk_create(
        Change(
            source="frame-io",
            external_id=str(i),
            repo="acme/shop",
            number=i + 1,
            title=title,
            created_at=start + timedelta(minutes=i),
            merged_at=None if i % 3 == 0 else start + timedelta(minutes=i, microseconds=i),
        )
        for i, title in enumerate(titles)
    )


def test_every_value_reads_as_the_orm_reads_it() -> None:
    rng = random.Random(20261207)
    alphabet = [",", '"', "\n", "\r", "\\", "N", " ", "é", "x", "{", "}", "\t"]
    titles = HOSTILE + ["".join(rng.choices(alphabet, k=rng.randrange(12))) for _ in range(2000)]
    _changes(titles)
    queryset = Change.objects.filter(source="frame-io")
    frame = _frame(
        queryset,
        {
            "number": "number",
            "title": "title",
            "merged_at": "merged_at",
            "length": Length("title"),
        },
    ).sort_values("number", ignore_index=True)
    expected = list(queryset.order_by("number").values_list("number", "title", "merged_at"))
    assert len(frame) == len(expected) == len(titles)
    for row, (number, title, merged_at) in zip(
        frame.itertuples(index=False), expected, strict=True
    ):
        assert row.number == number
        if title == "\\N":  # COPY's null marker as a value reads as a null (documented)
            assert pd.isna(row.title)
        else:
            assert row.title == title
            assert row.length == len(title)
        if merged_at is None:
            assert pd.isna(row.merged_at)
        else:
            assert row.merged_at.to_pydatetime() == merged_at


def test_no_rows_and_one_row() -> None:
    _changes(["only"])
    columns = {"number": "number", "title": "title", "merged_at": "merged_at"}
    none = _frame(Change.objects.filter(source="nothing"), columns)
    assert list(none.columns) == list(columns) and none.empty
    one = _frame(Change.objects.filter(source="frame-io"), columns)
    assert one["title"].tolist() == ["only"] and one["number"].tolist() == [1]


def test_a_failing_statement_raises_its_error_and_the_connection_goes_on() -> None:
    _changes(["x", "y"])
    # Refused before any row (a constant PostgreSQL folds), and after the first row (a division
    # by zero at number 2): the error comes before COPY starts sending, or ends it.
    before = Change.objects.filter(source="frame-io").annotate(
        bad=Cast(Value("not a number"), IntegerField())
    )
    with pytest.raises(psycopg.errors.InvalidTextRepresentation), transaction.atomic():
        _frame(before, {"number": "number", "bad": "bad"})
    during = Change.objects.filter(source="frame-io").annotate(
        bad=ExpressionWrapper(F("number") / (F("number") - 2), output_field=IntegerField())
    )
    with pytest.raises(psycopg.errors.DivisionByZero), transaction.atomic():
        _frame(during.order_by("number"), {"number": "number", "bad": "bad"})
    # The connection is idle again: the next read and an ORM query answer.
    frame = _frame(Change.objects.filter(source="frame-io"), {"number": "number"})
    assert sorted(frame["number"].tolist()) == [1, 2]
    assert Change.objects.filter(source="frame-io").count() == 2


def test_a_statement_too_long_to_send_at_once() -> None:
    # About 8 MB of ids: more than a socket takes in one write, so the send is flushed in parts.
    runs = PipelineRun.objects.bulk_create(
        PipelineRun(
            source="frame-io",
            external_id=str(i),
            repo="acme/shop",
            sha=f"{i:040x}",
            status="success",
            started_at=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=i),
        )
        for i in range(50)
    )
    ids = [run.pk for run in runs] + list(range(10**9, 10**9 + 1_000_000))
    frame = _frame(PipelineRun.objects.filter(id__any_indexed=Many(ids)), {"sha": "sha"})
    assert sorted(frame["sha"]) == sorted(f"{i:040x}" for i in range(50))


def test_array_literal_carries_quotes_and_backslashes() -> None:
    values = [v for v in HOSTILE if v != "NULL" and v != "null"] + ["plain", "a,b"]
    literal = _array_literal(values)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [literal])
        (back,) = cursor.fetchone()
    assert back == values
    assert _array_literal([3, 1, 2]) == "{3,1,2}"
    mixed = [1.5, math.pi]
    assert _array_literal(mixed) is mixed  # not ints or strings: left to psycopg


@pytest.mark.django_db(transaction=True)
def test_a_connection_whose_descriptor_is_above_1023() -> None:
    """A busy worker's connection may get a descriptor select() cannot take (FD_SETSIZE): the
    read waits on it all the same."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        pytest.skip(f"this process may open only {soft} files")
    _changes(["far", "away"])
    connection.close()
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        frame = _frame(Change.objects.filter(source="frame-io"), {"title": "title"})
        assert connection.connection.pgconn.socket > 1023
    finally:
        for fd in spare:
            os.close(fd)
        connection.close()
    assert sorted(frame["title"]) == ["away", "far"]
