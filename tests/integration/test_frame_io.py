"""dora.reads.frame_io reads timestamps through COPY as integer microseconds: exactly.

`_epoch_micros` takes PostgreSQL's double-precision `date_part` between 1970 and 2100 (three times
cheaper than EXTRACT's numeric) and EXTRACT outside: these tests hold it to EXTRACT's exact value
on random moments, the edges of the range and the dates events may carry (up to a century
ahead), and to the datetimes Python stored.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from django.db import connection

from dora.models import PipelineRun
from dora.reads.frame_io import _epoch_micros, _frame

pytestmark = pytest.mark.django_db

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The edges of the double-precision range and beyond it.
EDGES = [
    EPOCH,
    EPOCH + timedelta(microseconds=1),
    datetime(2026, 11, 2, 12, 34, 56, 654321, tzinfo=UTC),
    datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2100, 1, 1, tzinfo=UTC),
    datetime(2100, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(2126, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2242, 3, 16, 12, 56, 31, 999999, tzinfo=UTC),  # beyond 2^53 µs: doubles lose µs
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def _micros(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_epoch_micros_equals_extract_on_a_million_random_moments() -> None:
    """The expression against EXTRACT's exact numeric epoch, in SQL, 1970 to 2130."""
    expression = _epoch_micros("t")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FILTER (WHERE {expression} <> "  # noqa: S608 (no input)
            "(EXTRACT(EPOCH FROM t) * 1000000)::bigint), count(*) FROM ("
            "SELECT timestamptz '1970-01-01 00:00:00+00' + "
            "(floor(random() * 5050000000000000)::bigint / 1000000) * interval '1 second' + "
            "(floor(random() * 1000000)::bigint) * interval '1 microsecond' AS t "
            "FROM generate_series(1, 1000000)) AS moments"
        )
        mismatches, total = cursor.fetchone()
    assert total == 1_000_000
    assert mismatches == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_frames_read_stored_moments_to_the_microsecond() -> None:
    rng = random.Random(20261207)
    moments = [*EDGES]
    span = _micros(datetime(2130, 1, 1, tzinfo=UTC))
    moments += [EPOCH + timedelta(microseconds=rng.randrange(span)) for _ in range(3000)]
    PipelineRun.objects.bulk_create(
        PipelineRun(
            source="frame-io",
            external_id=str(i),
            repo="acme/shop",
            sha=f"{i:040x}",
            status="success",
            started_at=moment,
            finished_at=None if i % 7 == 0 else moment,
        )
        for i, moment in enumerate(moments)
    )
    frame = _frame(
        PipelineRun.objects.filter(source="frame-io"),
        {"external_id": "external_id", "started_at": "started_at", "finished_at": "finished_at"},
    )
    frame = frame.sort_values("external_id", key=lambda ids: ids.astype(int))
    assert len(frame) == len(moments)
    read = [ts.to_pydatetime() for ts in frame["started_at"]]
    assert read == moments
    for i, (moment, finished) in enumerate(zip(moments, frame["finished_at"], strict=True)):
        if i % 7 == 0:
            assert pd.isna(finished)  # the stored null
        else:
            assert finished.to_pydatetime() == moment
