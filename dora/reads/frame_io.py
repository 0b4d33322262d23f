"""QuerySet rows as a pandas DataFrame: on PostgreSQL through COPY, elsewhere row by row."""

from __future__ import annotations

import functools
import io
import time
from typing import Any

import pandas as pd
import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import (
    F,
    QuerySet,
)


def _frame(queryset: QuerySet, columns: dict[str, Any]) -> pd.DataFrame:
    """Rows of `queryset` as a DataFrame; columns maps output name -> field path or expression."""
    fields = {name: F(path) if isinstance(path, str) else path for name, path in columns.items()}
    # values() cannot reuse a model field's name for an expression: alias, then rename.
    aliased = {f"_{name}": expr for name, expr in fields.items()}
    values = queryset.annotate(**aliased).values_list(*aliased).order_by()
    if connections[values.db].vendor == "postgresql":
        return _frame_copy(values, list(columns))
    return pd.DataFrame.from_records(list(values), columns=list(columns))


def _array_literal(values: list[Any]) -> Any:
    """A list of ints or plain strings (ids, shas) as a PostgreSQL array literal: quoting one
    string is far cheaper than psycopg adapting 100,000 values. Other lists are left as they are.
    """
    types = set(map(type, values))  # one pass in C: 65,000 shas' checks took 0.1 s in Python
    if types <= {int}:
        return "{" + ",".join(map(str, values)) + "}"
    if types == {str}:
        body = '","'.join(values)
        if "\\" in body or '"' in body:  # rare: escape each value
            quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
            body = '","'.join(quoted)
        return '{"' + body + '"}'
    return values


TEXT_FIELDS = ("CharField", "TextField", "SlugField", "EmailField", "URLField")


def _frame_copy(values: QuerySet, columns: list[str]) -> pd.DataFrame:
    """The rows of a values_list() of `_<column>` annotations, read with COPY ... TO STDOUT as
    CSV and parsed by pandas: no Python object per cell, which at a few hundred thousand rows is
    most of the time (bench/metrics.py). Columns are typed from the annotations' fields:
    timestamps as datetime64[us, UTC], booleans as bool, text as str, numbers as pandas infers
    (an integer column with nulls is float, as from_records makes it).

    Timestamps travel as integer microseconds since the epoch, exact (timestamptz has
    microsecond resolution; `_epoch_micros`): formatting and parsing ISO text cost PostgreSQL
    and pandas about a microsecond a cell, several seconds of a full report."""
    connection = connections[values.db]
    compiler = values.query.get_compiler(using=values.db)
    kinds = {
        name: values.query.annotations[f"_{name}"].output_field.get_internal_type()
        for name in columns
    }
    try:
        statement, params = compiler.as_sql()
    except EmptyResultSet:
        # Django proves some filters match nothing and compiles no SQL (`tier__in=[]`: the
        # development tier has no earlier tiers). The header alone, parsed below like any other
        # result, gives the empty frame its usual columns and types.
        header = ",".join(f"_{name}" for name in columns) + "\n"
        return _frame_csv_parse(io.BytesIO(header.encode()), columns, kinds)
    params = tuple(_array_literal(p) if isinstance(p, list) else p for p in params)
    buffer = io.BytesIO()
    started = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection
    # COPY takes no parameters: bind them client-side (psycopg's own quoting).
    query = psycopg.ClientCursor(raw).mogrify(statement, params)
    quote = connection.ops.quote_name
    outputs = ", ".join(
        f"{_epoch_micros(quote('_' + name))} AS {quote('_' + name)}"
        if kind == "DateTimeField"
        else quote("_" + name)
        for name, kind in kinds.items()
    )
    query = f"SELECT {outputs} FROM ({query}) AS rows"  # noqa: S608 (names quoted, values bound)
    with raw.cursor() as cursor:
        copy_sql = f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true, NULL '\\N')"
        with cursor.copy(copy_sql) as copy:
            for block in copy:
                buffer.write(block)
    if connection.queries_logged:  # as Django logs its own queries (debug, query-count tests)
        connection.queries_log.append(
            {"sql": copy_sql, "time": f"{time.perf_counter() - started:.3f}"}
        )
    buffer.seek(0)
    return _frame_csv_parse(buffer, columns, kinds)


# Below this moment a timestamp's epoch in µs (< 2^52) survives double precision exactly.
_DOUBLE_EXACT_UNTIL = "2100-01-01 00:00:00+00"


def _epoch_micros(column: str) -> str:
    """SQL for a timestamptz column as integer microseconds since the epoch, exact.

    `date_part` computes the epoch in double precision, about three times cheaper than
    `EXTRACT`'s numeric (0.06 against 0.2 µs a cell: a few hundred ms of a full report). From
    1970 to 2100 it is exact: the epoch in µs is below 2^52, so seconds divided by 10^6 and
    multiplied back stay within half a microsecond and the cast rounds to the true value
    (checked against EXTRACT on millions of random moments, tests/integration/test_frame_io.py).
    Moments outside that range (events may be dated up to a century ahead) take EXTRACT."""
    exact = f"{column} >= '1970-01-01 00:00:00+00' AND {column} < '{_DOUBLE_EXACT_UNTIL}'"
    return (
        f"CASE WHEN {exact} THEN (date_part('epoch', {column}) * 1000000)::bigint "
        f"ELSE (EXTRACT(EPOCH FROM {column}) * 1000000)::bigint END"
    )


def _frame_csv_parse(buffer: io.BytesIO, columns: list[str], kinds: dict[str, str]) -> pd.DataFrame:
    """The CSV `_frame_copy` reads (a header of `_<column>` names, then rows), typed by the
    annotations' field kinds."""
    header = ",".join(f"_{name}" for name in columns) + "\n"
    if buffer.getbuffer().nbytes == len(header.encode()):  # no rows: the same empty frame
        return _frame_empty(tuple(columns), tuple(kinds.items())).copy()
    return _frame_csv_typed(buffer, columns, kinds)


@functools.lru_cache(maxsize=256)
def _frame_empty(columns: tuple[str, ...], kinds: tuple[tuple[str, str], ...]) -> pd.DataFrame:
    """A read's frame without rows, parsed once per set of columns: typing an empty frame's
    columns cost 2-5 ms a read (a service's report has two or three such reads)."""
    header = ",".join(f"_{name}" for name in columns) + "\n"
    return _frame_csv_typed(io.BytesIO(header.encode()), list(columns), dict(kinds))


def _frame_csv_typed(buffer: io.BytesIO, columns: list[str], kinds: dict[str, str]) -> pd.DataFrame:
    """`_frame_csv_parse` itself: pandas reads the CSV, then each column takes its type."""
    text_columns = [f"_{n}" for n, kind in kinds.items() if kind in TEXT_FIELDS]
    moment_columns = [f"_{n}" for n, kind in kinds.items() if kind == "DateTimeField"]
    frame = pd.read_csv(
        buffer,
        keep_default_na=False,
        na_values=["\\N"],
        dtype={**dict.fromkeys(text_columns, str), **dict.fromkeys(moment_columns, "Int64")},
    )
    frame.columns = columns
    for name, kind in kinds.items():
        if kind == "DateTimeField" and frame.empty:  # typed as an empty ISO column was
            frame[name] = pd.to_datetime(frame[name].astype(str), format="ISO8601", utc=True)
        elif kind == "DateTimeField":
            frame[name] = pd.to_datetime(frame[name], unit="us", utc=True)
        elif kind == "BooleanField":
            frame[name] = frame[name].map({"t": True, "f": False, True: True, False: False})
    return frame
