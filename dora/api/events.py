"""POST /api/v1/events: one normalized event or an array of them, answered per item."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dora.api.auth import request_token, scope_required, sender_of, token_event_refusal
from dora.intake.events import events_record
from dora.intake.schema import json_items
from dora.retry import TransactionConflict

RETRY_AFTER_SECONDS = 5


class RawJSONParser(BaseParser):
    """Hands the body over unparsed: the view reports bad JSON and size itself, clearly."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        return stream


_ITEM = inline_serializer(
    "IntakeItem",
    {
        "index": serializers.IntegerField(),
        "status": serializers.ChoiceField(["created", "updated", "unchanged", "rejected"]),
        "key": serializers.CharField(required=False),
        "reason": serializers.CharField(required=False),
        "warning": serializers.CharField(required=False),
    },
    many=True,
)
_REPORT = inline_serializer(
    "IntakeReport",
    {"counts": serializers.DictField(child=serializers.IntegerField()), "items": _ITEM},
)
_ERROR = inline_serializer("IntakeError", {"detail": serializers.CharField()})
# 400: the body itself is wrong (a detail), or every item was rejected (the report says why).
_REJECTED = PolymorphicProxySerializer(
    component_name="IntakeRejected",
    serializers=[_ERROR, _REPORT],
    resource_type_field_name=None,
)


class EventIntakeApi(APIView):
    """Record events (CONTRACT §1). Valid items are stored even when others in the body are not."""

    parser_classes = [RawJSONParser]
    permission_classes = [scope_required("ingest")]

    @extend_schema(
        request={
            "application/json": {
                "oneOf": [
                    {"type": "object", "description": "one event (CONTRACT §1)"},
                    {"type": "array", "items": {"type": "object"}, "minItems": 1},
                ]
            }
        },
        responses={
            200: _REPORT,
            207: OpenApiResponse(_REPORT, description="some items were rejected"),
            400: OpenApiResponse(_REJECTED, description="a bad body, or every item rejected"),
            401: _ERROR,
            403: _ERROR,
            413: _ERROR,
        },
        examples=[
            OpenApiExample(
                "deployment",
                value={
                    "type": "deployment",
                    "id": "deploy-812",
                    "service": "checkout",
                    "environment": "production",
                    "target": "eu-west-1",
                    "sha": "8f2c1e0",
                    "version": "v1.4.2",
                    "status": "success",
                    "finished_at": "2026-03-05T10:00:00Z",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        limit = settings.DORA_MAX_BODY_BYTES
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > limit:
            return _too_large(declared, limit)
        body = request._request.read(limit + 1)
        if len(body) > limit:
            return _too_large(len(body), limit)
        try:
            items = json_items(body.decode("utf-8"))
        except UnicodeDecodeError:
            return Response({"detail": "The body is not UTF-8 text."}, status=400)
        except json.JSONDecodeError as exc:
            return Response(
                {
                    "detail": f"The body is not valid JSON: {exc.msg} at line {exc.lineno} "
                    f"column {exc.colno}."
                },
                status=400,
            )
        if not items:
            return Response({"detail": "The array is empty: send at least one event."}, status=400)
        if len(items) > settings.DORA_MAX_EVENTS_PER_REQUEST:
            return Response(
                {
                    "detail": f"{len(items)} events in one request; send at most "
                    f"{settings.DORA_MAX_EVENTS_PER_REQUEST} per request, or use import_events."
                },
                status=413,
            )
        token = request_token(request)
        try:
            report = events_record(
                items,
                sent_by=sender_of(request),
                allowed=token_event_refusal(token) if token is not None else None,
            )
        except TransactionConflict:
            # Concurrent requests kept aborting this one's transaction: nothing of it was
            # stored (each batch is all or nothing), so sending it again is safe.
            return Response(
                {
                    "detail": "The events collided with concurrent writes and were not stored; "
                    f"send them again (after {RETRY_AFTER_SECONDS} s)."
                },
                status=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        code = status.HTTP_207_MULTI_STATUS if report.counts["rejected"] else status.HTTP_200_OK
        if report.counts["rejected"] == len(items):
            code = status.HTTP_400_BAD_REQUEST
        return Response(
            {"counts": report.counts, "items": [item.as_dict() for item in report.items]},
            status=code,
        )


def _too_large(size: int, limit: int) -> Response:
    return Response(
        {
            "detail": f"The body is {size} bytes; the limit is {limit} bytes "
            "(DORA_MAX_BODY_BYTES). Split it into several requests or use import_events."
        },
        status=413,
    )
