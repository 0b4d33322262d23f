"""`field__any=[...]`: membership in a list passed as one array parameter on PostgreSQL.

`field__in=[...]` binds one parameter per value; with thousands of shas or ids, building and
quoting those parameters costs more than the query. `= ANY(%s)` sends the list as a single
array. On other databases `__any` is `__in`.

`field__any_indexed=[...]`: the same membership, read through the column's index, one probe per
value (see AnyIndexed).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Field, Lookup
from django.db.models.fields.related import ForeignKey, ForeignObject
from django.db.models.lookups import In
from django.db.models.sql import Query


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        values = self.rhs
        if isinstance(values, Many):
            return values.items
        if hasattr(values, "resolve_expression"):
            raise TypeError("__any takes a list of values, not a query; use __in for subqueries")
        return [getattr(v, "pk", v) for v in values]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if connection.vendor != "postgresql":
            return In(self.lhs, self.rhs).as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        target = self.lhs.output_field
        if isinstance(target, ForeignKey):
            target = target.target_field
        db_type = target.db_type(connection)
        db_type = {"bigserial": "bigint", "serial": "integer"}.get(db_type, db_type)
        return self.array_sql(lhs, f"::{db_type}[]"), [*lhs_params, list(self.rhs)]

    def array_sql(self, lhs: str, cast: str) -> str:
        """The condition on `lhs`, its one parameter the array, `cast` its type (`::bigint[]`)."""
        return f"{lhs} = ANY(%s{cast})"


class AnyIndexed(AnyOf):
    """`lhs = ANY((SELECT %s::type[])::type[])`: the list as the value of a subquery, which the
    planner cannot see into. It then plans for a few values and probes the column's index once
    per value, so the read costs what its rows cost. With the list itself (`__any`) PostgreSQL
    estimates each of its values (about 20 ms for 65,000 ids) and, when they match a good part
    of the table, scans all of it (bench/metrics.py: the value stream's arrivals, 69,000 pages
    for 131,000 rows on 3,800 of them). A query instead of a list: `lhs = ANY(ARRAY(query))`,
    the same for the values the query returns (with `__in` PostgreSQL joins them to every row).

    Only where an index on the column answers the read: PostgreSQL checks a row against an array
    it did not see while planning one element at a time, so as a filter over many rows instead of
    an index condition this costs rows x values.
    """

    lookup_name = "any_indexed"

    def get_prep_lookup(self) -> Any:
        if isinstance(self.rhs, Query):  # a QuerySet, resolved by Django to its query
            return self.rhs
        return super().get_prep_lookup()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if connection.vendor != "postgresql" or not isinstance(self.rhs, Query):
            return super().as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)  # "(SELECT ...)"
        return f"{lhs} = ANY(ARRAY{rhs})", [*lhs_params, *rhs_params]

    def array_sql(self, lhs: str, cast: str) -> str:
        return f"{lhs} = ANY((SELECT %s{cast}){cast})"


class Many:
    """A long list of plain values (ids, shas) for `__any`, handed to Django as one value: a list
    or tuple is resolved element by element when the filter is built (about 0.3 s for 200,000
    ids on the bench estate's value stream), which this object is not. Not iterable either: on a
    foreign key Django checks each value of an iterable for a model instance of the wrong type.
    `field__any=Many(ids)`."""

    __slots__ = ("items",)

    def __init__(self, items: Any) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
Field.register_lookup(AnyIndexed)
ForeignObject.register_lookup(AnyIndexed)
