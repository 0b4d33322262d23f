"""Bulk writes of plain rows, without model instances: COPY on PostgreSQL, multi-row INSERT on
SQLite. Intake and derivation write tens of thousands of rows per call; Django's bulk_create
builds an instance and a parameter per value, which costs more than the database's own work.

Rows are tuples in the order of `columns` (model field attnames, e.g. "rollout_id"). Values of
JSONField columns are Python objects; they are serialized here, except `JsonText` values, which
already are JSON. Datetimes must be aware.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

from django.db import connection, models

# Bound parameters per statement on SQLite (its limit is 32,766 since 3.32; stay well under).
_SQLITE_PARAMS = 900


class JsonText(str):
    """A JSONField value that is already JSON text (e.g. a payload serialized to hash it):
    written as it is, not serialized again."""


def _fields(model: type[models.Model], columns: Sequence[str]) -> list[models.Field]:
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    unknown = [c for c in columns if c not in by_attname]
    if unknown:
        raise ValueError(f"{model.__name__} has no column {', '.join(unknown)}")
    return [by_attname[c] for c in columns]


def _prepared(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Iterable[Sequence[Any]]:
    """Rows with values as the database takes them.

    PostgreSQL (COPY): psycopg adapts everything but JSON, which is serialized here. SQLite: each
    value goes through its field's get_db_prep_save, so the stored text is what the ORM would
    store (datetimes as naive UTC text, not Python's "+00:00" form, which compares differently).
    """
    fields = _fields(model, columns)
    json_at = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    if connection.vendor == "postgresql":
        if not json_at:
            yield from rows
            return
        # One encoder per column (json.dumps with options would build one per value).
        encoders = [
            (i, (fields[i].encoder or json.JSONEncoder)(separators=(",", ":")).encode)
            for i in json_at
        ]
        for row in rows:
            out = list(row)
            for i, encode in encoders:
                value = out[i]
                if isinstance(value, JsonText):
                    out[i] = str(value)
                elif value is not None:
                    out[i] = encode(value)
            yield out
        return
    for row in rows:
        yield [
            str(value) if isinstance(value, JsonText) else field.get_db_prep_save(value, connection)
            for field, value in zip(fields, row, strict=True)
        ]


def _chunks(rows: Iterable[Sequence[Any]], size: int) -> Iterable[list[Sequence[Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _names(columns: Sequence[str], prefix: str = "") -> str:
    return ", ".join(prefix + connection.ops.quote_name(c) for c in columns)


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def copy_insert(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """INSERT rows (no conflict handling): one COPY on PostgreSQL."""
    prepared = _prepared(model, columns, rows)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {_table(model)} ({_names(columns)}) FROM STDIN") as copy:
                for row in prepared:
                    copy.write_row(row)
            return
        _sqlite_insert(cursor, model, columns, prepared, "")


def upsert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    unique: Sequence[str],
    update: Sequence[str] | None = None,
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """INSERT … ON CONFLICT (unique) DO UPDATE SET update (default: every other column).

    Rows must not repeat a unique key (PostgreSQL refuses to update a row twice in one
    statement). Returns the `returning` columns of every inserted or updated row, unordered.
    On PostgreSQL the rows are COPied into a temporary table first, then upserted in one
    statement; the caller must be inside a transaction (the table empties at commit).
    """
    columns = list(columns)
    suffix = _conflict(columns, unique, update)
    if returning:
        suffix += f" RETURNING {_names(returning)}"
    prepared = _prepared(model, columns, rows)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            stage = _stage(cursor, model, columns, prepared)
            cursor.execute(
                f"INSERT INTO {_table(model)} ({_names(columns)}) "  # noqa: S608 - model's names
                f"SELECT {_names(columns)} FROM {stage} {_in_key_order(unique)} {suffix}"
            )
            return list(cursor.fetchall()) if returning else []
        return _sqlite_insert(cursor, model, columns, prepared, suffix, returning=bool(returning))


def upsert_applied(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    unique: Sequence[str],
    update: Sequence[str],
    applies: str,
) -> dict[tuple[Any, ...], bool]:
    """INSERT … ON CONFLICT (unique) DO UPDATE SET update WHERE applies; return, by unique key,
    True for each row inserted and False for each row updated (the rest were left alone).

    `applies` is SQL over the stored row ("{t}.column", {t} stands for the table) and the
    arriving one (EXCLUDED.column). On PostgreSQL the answer comes from the writing statement
    itself (a row inserted by it has no xmax), so it holds under concurrency: of two
    transactions inserting one key, one inserts and the other, having waited for it, updates
    or leaves the row. SQLite serializes writers, so the keys stored before are read first.
    """
    columns = list(columns)
    width = len(unique)
    conflict = _conflict(columns, unique, update, where=applies.format(t=_table(model)))
    suffix = f"{conflict} RETURNING {_names(unique)}"
    prepared = _prepared(model, columns, rows)
    out: dict[tuple[Any, ...], bool] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            stage = _stage(cursor, model, columns, prepared)
            cursor.execute(
                f"INSERT INTO {_table(model)} ({_names(columns)}) "  # noqa: S608 - model's names
                f"SELECT {_names(columns)} FROM {stage} {_in_key_order(unique)} "
                f"{suffix}, (xmax = 0)"
            )
            for row in cursor.fetchall():
                out[tuple(row[:width])] = bool(row[width])
            return out
        prepared = list(prepared)
        key_at = [columns.index(c) for c in unique]
        existing = set(
            rows_by_key(model, unique, [], [tuple(row[i] for i in key_at) for row in prepared])
        )
        for row in _sqlite_insert(cursor, model, columns, prepared, suffix, returning=True):
            key = tuple(row[:width])
            out[key] = key not in existing
    return out


def rows_by_key(
    model: type[models.Model],
    unique: Sequence[str],
    columns: Sequence[str],
    keys: Iterable[tuple[Any, ...]],
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The `columns` of the stored rows with these unique keys, by key (absent keys left out)."""
    keys = list(keys)
    width = len(unique)
    key_sql = "(" + ", ".join(["%s"] * width) + ")"
    selected = _names([*unique, *columns], "t.")
    out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    with connection.cursor() as cursor:
        for chunk in _chunks(keys, max(1, _SQLITE_PARAMS // width)):
            cursor.execute(
                f"SELECT {selected} FROM {_table(model)} AS t "  # noqa: S608 - model's names
                f"WHERE ({_names(unique, 't.')}) IN (VALUES {', '.join([key_sql] * len(chunk))})",
                [part for key in chunk for part in key],
            )
            for row in cursor.fetchall():
                out[tuple(row[:width])] = tuple(row[width:])
    return out


def _in_key_order(unique: Sequence[str]) -> str:
    """ORDER BY the unique key: every writer locks rows in the same order, so two batches
    holding the same keys in different orders wait for each other instead of deadlocking."""
    return f"ORDER BY {_names(unique)}"


def _conflict(
    columns: Sequence[str],
    unique: Sequence[str],
    update: Sequence[str] | None,
    *,
    where: str = "",
) -> str:
    """ON CONFLICT clause: update the `update` columns (default: every other one), only where
    `where` holds when it is given."""
    if update is None:
        update = [c for c in columns if c not in unique]
    if not update:
        return f"ON CONFLICT ({_names(unique)}) DO NOTHING"
    quote = connection.ops.quote_name
    set_sql = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update)
    return f"ON CONFLICT ({_names(unique)}) DO UPDATE SET {set_sql}" + (
        f" WHERE {where}" if where else ""
    )


def _stage(cursor: Any, model: type[models.Model], columns: Sequence[str], rows: Any) -> str:
    """COPY prepared rows into an empty temporary table of the model's column types (no
    constraints); return its quoted name. One table per model and column list, emptied at every
    commit, so the caller must be inside a transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("bulk staging on PostgreSQL needs a transaction")
    # The column list is part of the name: a table created for other columns cannot take these.
    tag = zlib.crc32(",".join(columns).encode())
    stage = connection.ops.quote_name(f"_stage_{model._meta.db_table}_{tag:08x}")
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "  # noqa: S608
        f"SELECT {_names(columns)} FROM {_table(model)} WITH NO DATA"
    )
    cursor.execute(f"TRUNCATE {stage}")
    with cursor.copy(f"COPY {stage} ({_names(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return stage


def _sqlite_insert(
    cursor: Any,
    model: type[models.Model],
    columns: Sequence[str],
    prepared: Iterable[Sequence[Any]],
    suffix: str,
    *,
    returning: bool = False,
) -> list[tuple[Any, ...]]:
    """Multi-row INSERTs of prepared rows, each followed by `suffix` (conflict, returning)."""
    out: list[tuple[Any, ...]] = []
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    for chunk in _chunks(prepared, max(1, _SQLITE_PARAMS // len(columns))):
        cursor.execute(
            f"INSERT INTO {_table(model)} ({_names(columns)}) "  # noqa: S608 - model's names
            f"VALUES {', '.join([row_sql] * len(chunk))} {suffix}",
            [value for row in chunk for value in row],
        )
        if returning:
            out += cursor.fetchall()
    return out


def update_by_id(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """UPDATE model SET columns = values WHERE id = id, for many rows (id, *values) at once:
    one statement over arrays on PostgreSQL, executemany on SQLite."""
    rows = list(rows)
    if not rows:
        return
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    if any(isinstance(by_attname[c], models.JSONField) for c in columns):
        raise ValueError("update_by_id does not handle JSONField columns")
    table = _table(model)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            types = ["bigint"]
            for column in columns:
                field = by_attname[column]
                db_type = (field.target_field if field.is_relation else field).db_type(connection)
                types.append({"bigserial": "bigint", "serial": "integer"}.get(db_type, db_type))
            arrays = ", ".join(f"%s::{t}[]" for t in types)
            names = ", ".join(f"v{i}" for i in range(len(types)))
            sets = ", ".join(
                f"{connection.ops.quote_name(c)} = v.v{i + 1}" for i, c in enumerate(columns)
            )
            cursor.execute(
                f"UPDATE {table} AS t SET {sets} "  # noqa: S608 - model's own names
                f"FROM unnest({arrays}) AS v({names}) WHERE t.id = v.v0",
                [list(values) for values in zip(*rows, strict=True)],
            )
            return
        sets = ", ".join(f"{connection.ops.quote_name(c)} = %s" for c in columns)
        # Values as the ORM stores them (SQLite: datetimes as naive UTC text, not "+00:00").
        fields = [by_attname[c] for c in columns]
        params = [
            [f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)] + [pk]
            for pk, *values in rows
        ]
        cursor.executemany(f"UPDATE {table} SET {sets} WHERE id = %s", params)  # noqa: S608
