"""dora.reads.frame_io: a read without rows types its empty frame once per set of columns."""

from __future__ import annotations

import io

import pandas as pd

from dora.reads.frame_io import _frame_csv_parse, _frame_csv_typed

COLUMNS = ["at", "name", "done", "n"]
KINDS = {"at": "DateTimeField", "name": "CharField", "done": "BooleanField", "n": "IntegerField"}
HEADER = b"_at,_name,_done,_n\n"


def test_an_empty_read_is_typed_as_parsing_it_types_it() -> None:
    parsed = _frame_csv_typed(io.BytesIO(HEADER), COLUMNS, KINDS)
    for _ in range(2):  # the first parse and the remembered one
        frame = _frame_csv_parse(io.BytesIO(HEADER), COLUMNS, KINDS)
        pd.testing.assert_frame_equal(frame, parsed)
        assert isinstance(frame["at"].dtype, pd.DatetimeTZDtype)


def test_an_empty_read_is_a_frame_of_its_own() -> None:
    first = _frame_csv_parse(io.BytesIO(HEADER), COLUMNS, KINDS)
    first["extra"] = 1
    first.loc[0] = [pd.Timestamp("2026-01-01", tz="UTC"), "x", True, 1, 1]
    second = _frame_csv_parse(io.BytesIO(HEADER), COLUMNS, KINDS)
    assert list(second.columns) == COLUMNS
    assert second.empty


def test_rows_are_still_parsed() -> None:
    data = HEADER + b"1767225600000000,shop,t,3\n"
    frame = _frame_csv_parse(io.BytesIO(data), COLUMNS, KINDS)
    assert frame.to_dict("records") == [
        {"at": pd.Timestamp("2026-01-01", tz="UTC"), "name": "shop", "done": True, "n": 3}
    ]
