"""What the admin pages share: read-only pages for facts intake writes, and short labels."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


def _short(sha: str) -> str:
    return sha[:10]


def _joined(values: list[str] | None) -> str:
    return ", ".join(values or [])


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by event intake (records) or computed from them (derived facts).

    Editing them here would bypass derivation and leave the derived facts inconsistent; to
    correct a record, send its event again (same source, type and id), which updates it.
    Deleting stays possible, to clean up after a bad import.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
