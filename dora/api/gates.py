"""POST /api/v1/gates/promotion: may a version go from one environment to the next (CONTRACT §5)."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dora.api.auth import request_token, scope_required, token_access
from dora.deadline import Deadline, database_deadline
from dora.prometheus import gate_observed
from dora.reads.promotion import (
    PromotionNotFound,
    PromotionRequest,
    decision_body,
    promotion_decide,
)
from dora.retry import TransactionConflict
from dora.tasks import alerts_gate_block_enqueue

log = logging.getLogger(__name__)


RETRY_AFTER_SECONDS = 30


class PromotionRequestSerializer(serializers.Serializer):
    """The request body; `from`/`to` are Python keywords, hence the declared fields below."""

    service = serializers.CharField(max_length=200, trim_whitespace=True)
    version = serializers.CharField(
        max_length=200, help_text="a version label (v1.4.2) or a full commit sha"
    )
    pipeline_run = serializers.CharField(
        max_length=500, required=False, allow_blank=True, allow_null=True
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.CharField(max_length=200, help_text="source environment")
        fields["to"] = serializers.CharField(max_length=200, help_text="destination environment")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {
                    key: ["Unknown field; expected service, version, from, to, pipeline_run."]
                    for key in unknown
                }
            )
        if attrs["from"] == attrs["to"]:
            raise serializers.ValidationError({"to": ["Must differ from `from`."]})
        return attrs


_CHECK = inline_serializer(
    "GateCheck",
    {
        "name": serializers.CharField(),
        "passed": serializers.BooleanField(),
        "severity": serializers.ChoiceField(["block", "warn"]),
        "detail": serializers.CharField(),
    },
)
_DECISION = inline_serializer(
    "GateDecision",
    {
        "allowed": serializers.BooleanField(),
        "decision_id": serializers.UUIDField(),
        "evaluated_at": serializers.DateTimeField(),
        "service": serializers.CharField(),
        "version": serializers.CharField(),
        "from": serializers.CharField(),
        "to": serializers.CharField(),
        "pipeline_run": serializers.CharField(allow_null=True),
        "checks": serializers.ListField(child=_CHECK),
    },
)
_ERROR = inline_serializer("GateError", {"detail": serializers.CharField()})
# A malformed request: messages per field (`{"to": ["Must differ from `from`."]}`), or one
# `detail` when the body is not a JSON object at all.
_INVALID = {
    "type": "object",
    "description": "field name -> its messages; or `detail` for a body that is not an object",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}


class PromotionGateApi(APIView):
    """Decide a promotion from delivery data; every decision is stored with its checks."""

    permission_classes = [scope_required("gate")]
    deadline: Deadline | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The whole decision, token lookup included, within the gate's own deadline: a database
        # that stops answering makes it a 503 (fails closed) instead of a hung pipeline.
        started = time.perf_counter()
        with database_deadline(settings.DORA_GATE_TIMEOUT_SECONDS) as self.deadline:
            response = super().dispatch(request, *args, **kwargs)
        gate_observed(response.status_code, time.perf_counter() - started)  # GET /metrics
        return response

    @extend_schema(
        request=PromotionRequestSerializer,
        responses={
            200: OpenApiResponse(_DECISION, description="allowed"),
            409: OpenApiResponse(_DECISION, description="blocked: the checks say why"),
            400: OpenApiResponse(_INVALID, description="malformed request: messages per field"),
            401: _ERROR,
            403: _ERROR,
            404: OpenApiResponse(_ERROR, description="unknown service or environment"),
            503: OpenApiResponse(_ERROR, description="cannot decide now; fails closed"),
        },
        examples=[
            OpenApiExample(
                "promotion",
                value={
                    "service": "checkout",
                    "version": "v1.4.2",
                    "from": "staging",
                    "to": "production",
                    "pipeline_run": "https://ci.example.com/runs/812",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            return Response(
                {"detail": "Send a JSON object: service, version, from, to, pipeline_run."},
                status=400,
            )
        serializer = PromotionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token = request_token(request)
        access = token_access(token) if token is not None else None
        if access is not None and not access.service_allowed(data["service"]):
            # The same answer whether the service exists or not: a limited token cannot find
            # out which services there are.
            return Response(
                {"detail": f"This token may not ask about service {data['service']!r}."},
                status=403,
            )
        promotion = PromotionRequest(
            service=data["service"],
            version=data["version"],
            from_env=data["from"],
            to_env=data["to"],
            pipeline_run=data.get("pipeline_run") or "",
        )
        try:
            stored, _ = promotion_decide(
                promotion,
                now=timezone.now(),
                requested_by=str(request.user),
                body=request.data,
            )
        except PromotionNotFound as exc:
            if exc.what == "service" and access is not None and not access.everything:
                # Name only the services this token may ask about.
                exc = PromotionNotFound(
                    exc.what, exc.name, [n for n in exc.known if access.service_allowed(n)]
                )
            return Response({"detail": str(exc), exc.what: exc.name}, status=404)
        log.info(
            "gate %s: %s %s %s -> %s for %s%s",
            "allowed" if stored.allowed else "blocked",
            stored.service,
            stored.version,
            stored.from_env,
            stored.to_env,
            stored.requested_by,
            "".join(
                f"; {c['name']}: {c['detail']}"
                for c in stored.checks
                if not c["passed"] and c["severity"] == "block"
            ),
        )
        if not stored.allowed:
            alerts_gate_block_enqueue()  # a task after the commit; nothing is sent from here
        return Response(decision_body(stored), status=200 if stored.allowed else 409)

    def handle_exception(self, exc: Exception) -> Response:
        # Fail closed: without the database there is no evidence, so no promotion. (A
        # TransactionConflict: deriving the service's pending facts kept colliding with intake.)
        if isinstance(exc, DatabaseError | TransactionConflict):
            timed_out = self.deadline is not None and self.deadline.fired
            log.error(
                "promotion gate: database unavailable%s: %s",
                f" (no answer within {self.deadline.seconds:g} s)" if timed_out else "",
                exc,
            )
            why = (
                f"did not answer within {self.deadline.seconds:g} s"
                if timed_out
                else f"cannot be read ({exc.__class__.__name__})"
            )
            return Response(
                {
                    "allowed": False,
                    "detail": f"The gate's database {why}, so it cannot decide and blocks "
                    "(fails closed). Retry later.",
                },
                status=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return super().handle_exception(exc)
