"""Logging filters named by settings.LOGGING (imported while logging is configured: no Django)."""

from __future__ import annotations

import logging


class BlockedPromotionFilter(logging.Filter):
    """Drops Django's "Conflict: /api/v1/gates/promotion" warning: a 409 from the gate is an
    answer, not a client error. The gate's view logs every decision at INFO instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return not (
            record.name == "django.request"
            and getattr(record, "status_code", None) == 409
            and getattr(request, "path", "").endswith("/gates/promotion")
        )
