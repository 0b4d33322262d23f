"""`field__any=[...]`: membership in a list passed as one array parameter on PostgreSQL.

`field__in=[...]` binds one parameter per value; with thousands of shas or ids, building and
quoting those parameters costs more than the query. `= ANY(%s)` sends the list as a single
array. On other databases `__any` is `__in`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Field, Lookup
from django.db.models.fields.related import ForeignKey, ForeignObject
from django.db.models.lookups import In


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        values = self.rhs
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
        return f"{lhs} = ANY(%s::{db_type}[])", [*lhs_params, list(self.rhs)]


class Many:
    """A long list for `__any`, handed to Django as one value: a list or tuple is resolved
    element by element when the filter is built (about 0.3 s for 200,000 ids on the bench
    estate's value stream), which this object is not. `field__any=Many(ids)`."""

    __slots__ = ("items",)

    def __init__(self, items: Any) -> None:
        self.items = list(items)

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
