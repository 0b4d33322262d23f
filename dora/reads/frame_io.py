"""QuerySet rows as a pandas DataFrame: on PostgreSQL through COPY, elsewhere row by row."""

from __future__ import annotations

import functools
import io
import select
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
from psycopg import pq


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
        plain = "".join(values)  # checked without the separator, which holds a quote
        if "\\" in plain or '"' in plain:  # rare: escape each value
            values = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
        return '{"' + '","'.join(values) + '"}'
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
    header = (",".join(f"_{name}" for name in columns) + "\n").encode()
    try:
        statement, params = compiler.as_sql()
    except EmptyResultSet:
        # Django proves some filters match nothing and compiles no SQL (`tier__in=[]`: the
        # development tier has no earlier tiers). The header alone, parsed below like any other
        # result, gives the empty frame its usual columns and types.
        return _frame_csv_parse(io.BytesIO(header), columns, kinds)
    params = tuple(_array_literal(p) if isinstance(p, list) else p for p in params)
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
    copy_sql = f"COPY ({query}) TO STDOUT WITH (FORMAT csv, NULL '\\N')"
    body = _copy_out(raw, copy_sql)
    if connection.queries_logged:  # as Django logs its own queries (debug, query-count tests)
        connection.queries_log.append(
            {"sql": copy_sql, "time": f"{time.perf_counter() - started:.3f}"}
        )
    return _frame_csv_parse(io.BytesIO(header + body), columns, kinds)


def _copy_out(raw: psycopg.Connection, sql: str) -> bytearray:
    """What `sql`, a COPY ... TO STDOUT, sends: its rows, joined.

    Through libpq's own calls (psycopg.pq), not psycopg's `Cursor.copy`: COPY sends a message
    per row, and psycopg's reader takes about 3 µs of Python to hand each over (two generators
    and a wait a row): 0.6-0.8 s of CPU, with the GIL the other read threads wait for, for a
    400,000-row read whose rows libpq hands over in about 0.5 µs each. Waits on the socket
    (without the GIL) only when no whole row is buffered. A failed statement raises psycopg's
    error for it, as `Cursor.copy` would, and leaves the connection ready for the next one."""
    pgconn = raw.pgconn
    pgconn.send_query(sql.encode())
    # Nonblocking: a long statement (65,000 ids) may not go at once. Until it has, wait for the
    # socket to take more, reading what the server sends meanwhile (libpq's advice for flush).
    while pgconn.flush():
        if _wait_socket(pgconn, write=True) & select.POLLIN:
            pgconn.consume_input()
    started = _next_result(pgconn)
    if started is None or started.status != pq.ExecStatus.COPY_OUT:
        _results_drain(pgconn)
        if started is not None and started.status == pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(started, encoding=raw.info.encoding)
        raise psycopg.ProgrammingError(f"not a COPY TO STDOUT: {sql[:80]}")
    # Each row appended as it comes, its libpq buffer freed at once: a list of the rows joined
    # at the end took three times as long (200,000 objects alive at once).
    body = bytearray()
    get = pgconn.get_copy_data
    while True:
        nbytes, data = get(1)  # a whole row, 0 when none is buffered yet, -1 at the end
        if nbytes > 0:
            body += data
        elif nbytes == 0:
            _wait_socket(pgconn)
            pgconn.consume_input()
        else:
            break
    finished = _next_result(pgconn)
    _results_drain(pgconn)
    if finished is None or finished.status != pq.ExecStatus.COMMAND_OK:
        if finished is not None:
            raise psycopg.errors.error_from_result(finished, encoding=raw.info.encoding)
        raise psycopg.OperationalError("COPY ended without a result")
    return body


def _wait_socket(pgconn: pq.abc.PGconn, *, write: bool = False) -> int:
    """Until the connection's socket can be read (or, with write, read or written): the poll
    events. poll() leaves the GIL, and unlike select() takes a descriptor above 1023 (a busy
    worker process). A socket cut by dora.deadline reads as ready: the next libpq call fails."""
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | (select.POLLOUT if write else 0))
    events = 0
    while not events:
        events = sum(event for _, event in poller.poll())
    return events


def _next_result(pgconn: pq.abc.PGconn) -> pq.abc.PGresult | None:
    """libpq's next result of the statement sent, waiting for it (None: no more)."""
    while pgconn.is_busy():
        _wait_socket(pgconn)
        pgconn.consume_input()
    return pgconn.get_result()


def _results_drain(pgconn: pq.abc.PGconn) -> None:
    """The statement's remaining results read and dropped: the connection is idle again."""
    while _next_result(pgconn) is not None:
        pass


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
