"""GET /api/v1/metrics and /api/v1/metrics/<name>/items: the report and the items behind it."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dora.api.auth import scope_required, token_access
from dora.db_router import replica_reads
from dora.metrics import DEFINITIONS_URL, DEFINITIONS_VERSION
from dora.metrics.levels import BENCHMARK_YEARS
from dora.models import ApiToken
from dora.reads.report import metrics_report
from dora.reads.report_items import METRIC_NAMES, metric_items
from dora.reads.report_query import RANGE_TEXT, MetricsQuery, ParameterError, metrics_query_parse
from dora.web.access import access_for, names_allowed
from dora.window import RANGES

QUERY_PARAMETERS = [
    OpenApiParameter(
        "service",
        OpenApiTypes.STR,
        many=True,
        description="a service; repeat it (or separate with commas) for several",
    ),
    OpenApiParameter("team", OpenApiTypes.STR, description="a team: its services, items pooled"),
    OpenApiParameter(
        "since",
        OpenApiTypes.STR,
        description="window start, inclusive: ISO date (00:00 UTC) or timestamp with a zone; "
        f"default 12 weeks before until; from {RANGE_TEXT}. Without since and until the "
        "window is the dashboards' (range, end, start): by default the last 4 complete ISO "
        "weeks in the scope's time zone",
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.STR,
        description=f"window end, exclusive; default now when since is given; from {RANGE_TEXT}",
    ),
    OpenApiParameter(
        "range",
        OpenApiTypes.STR,
        enum=list(RANGES),
        description="without since/until: 1w, 4w or 12w (default) whole ISO weeks ending with "
        "the week of end, q the calendar quarter of end, custom the days start to end; in the "
        "scope's time zone (the team's), never past the last complete week",
    ),
    OpenApiParameter(
        "end",
        OpenApiTypes.DATE,
        description="without since/until: a day of the window's last week (quarter: a day of "
        "it; custom: its last day); default the last complete week's Sunday",
    ),
    OpenApiParameter(
        "start",
        OpenApiTypes.DATE,
        description="range=custom: the window's first day",
    ),
    OpenApiParameter(
        "benchmark",
        OpenApiTypes.INT,
        enum=list(BENCHMARK_YEARS),
        description="report year: 2025 places each figure as a percentile of DORA's 2025 Quick "
        "Check distribution (the default when the service has DORA's published file; without it "
        "2025 is a 400 and the default is 2024); 2021–2024 give their level tables",
    ),
    OpenApiParameter(
        "industry",
        OpenApiTypes.STR,
        description="the 2025 Quick Check industry to place the figures against, a key of "
        "DORA's published file, e.g. all or technology (default: the team's, else the "
        "organisation's, else all)",
    ),
    OpenApiParameter(
        "kind",
        OpenApiTypes.STR,
        enum=["all", "app", "infra"],
        description="only services of this kind: app, or infra (IaC stacks, whose versioned "
        "applies are their rollouts); all or none: both",
    ),
    OpenApiParameter(
        "tier",
        OpenApiTypes.STR,
        enum=["development", "test", "staging", "production"],
        description="environment tier (default: production for the DORA figures, every "
        "environment for automation lag)",
    ),
    OpenApiParameter("target", OpenApiTypes.STR, description="only what ran on this target"),
]
_ERROR = inline_serializer(
    "MetricsError", {"detail": serializers.CharField(), "parameter": serializers.CharField()}
)
# 401 (no or an unknown token) and 403 (wrong scope, or teams a session may not read).
_DENIED = inline_serializer("MetricsDenied", {"detail": serializers.CharField()})
_REPORT = OpenApiResponse(
    inline_serializer(
        "MetricsReport",
        {
            "definitions_version": serializers.CharField(),
            "definitions_url": serializers.CharField(),
            "window": serializers.DictField(),
            "benchmark": serializers.CharField(),
            "scope": serializers.DictField(),
            **{
                key: serializers.DictField()
                for key in (
                    "deployment_frequency",
                    "lead_time",
                    "merge_to_production",
                    "change_failure_rate",
                    "deploy_failure_rate",
                    "recovery_time",
                    "time_to_restore",
                    "rework_rate",
                    "lead_time_all_targets",
                    "rollout_lag",
                    "automation_lag",
                    "value_stream",
                    "out_of_band_changes",
                )
            },
            "version_spread": serializers.ListField(child=serializers.DictField()),
            "level": serializers.CharField(allow_null=True),
            "percentile": serializers.FloatField(allow_null=True),
            "placement": serializers.DictField(allow_null=True),
            "groups": serializers.DictField(),
        },
    ),
    description="CONTRACT §4; absent data gives n: 0 and null figures",
)


def _query(request: Request) -> MetricsQuery:
    params = request.query_params
    return metrics_query_parse(
        now=timezone.now(),
        services=params.getlist("service"),
        team=params.get("team"),
        since=params.get("since"),
        until=params.get("until"),
        benchmark=params.get("benchmark"),
        kind=params.get("kind"),
        tier=params.get("tier"),
        target=params.get("target"),
        industry=params.get("industry"),
        range=params.get("range"),
        end=params.get("end"),
        start=params.get("start"),
    )


def _bad(exc: ParameterError) -> Response:
    return Response({"detail": str(exc), "parameter": exc.parameter}, status=400)


FORBIDDEN = {
    "detail": "You may read the metrics of your own teams and their services; name one "
    "with team= or service= (the whole organisation needs the leadership group)."
}


def _forbidden(request: Request, query: MetricsQuery | None = None) -> Response | None:
    """A session sees the teams the dashboards show it (dora.web.access); a token of scope
    `read` is a machine reader of the whole organisation.

    Without `query`: the names in the request, checked before they are looked up, so a team or
    service the session may not see answers exactly like one that does not exist.
    """
    if isinstance(request.auth, ApiToken):
        access = token_access(request.auth)
        if access.everything:
            return None
        denied: dict[str, str] = {
            "detail": "This token may read the metrics of "
            f"{', '.join(sorted(access.services)) or 'no service'} only; name them with "
            "service= (or one of its teams with team=)."
        }
    else:
        access = access_for(request.user)
        denied = FORBIDDEN
    if query is not None:
        allowed = access.scope_allowed(query.scope)
    else:
        params = request.query_params
        services = [s.strip() for item in params.getlist("service") for s in item.split(",")]
        allowed = names_allowed(
            access, team=params.get("team") or None, services=[s for s in services if s]
        )
    return None if allowed else Response(denied, status=403)


class MetricsApi(APIView):
    """Every figure of CONTRACT §4 for a scope and window."""

    permission_classes = [scope_required("read")]

    @extend_schema(
        parameters=QUERY_PARAMETERS,
        responses={200: _REPORT, 400: _ERROR, 401: _DENIED, 403: _DENIED},
    )
    @replica_reads
    def get(self, request: Request) -> Response:
        if denied := _forbidden(request):
            return denied
        try:
            query = _query(request)
        except ParameterError as exc:
            return _bad(exc)
        if denied := _forbidden(request, query):
            return denied
        return Response(metrics_report(query, now=timezone.now()))


class ItemsPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class MetricItemsApi(APIView):
    """The items behind one figure (changes, rollouts, incidents, runs), paginated."""

    permission_classes = [scope_required("read")]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "name", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(METRIC_NAMES)
            ),
            *QUERY_PARAMETERS,
            OpenApiParameter("page", OpenApiTypes.INT, description="from 1 (400 past the last)"),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="at most 1000"),
        ],
        responses={
            200: inline_serializer(
                "MetricItems",
                {
                    "definitions_version": serializers.CharField(),
                    "definitions_url": serializers.CharField(),
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            ),
            400: _ERROR,
            401: _DENIED,
            403: _DENIED,
            404: inline_serializer(
                "UnknownMetric",
                {
                    "detail": serializers.CharField(),
                    "names": serializers.ListField(child=serializers.CharField()),
                },
            ),
        },
    )
    @replica_reads
    def get(self, request: Request, name: str) -> Response:
        if name not in METRIC_NAMES:
            return Response(
                {"detail": f"unknown metric {name!r}", "names": list(METRIC_NAMES)}, status=404
            )
        if denied := _forbidden(request):
            return denied
        try:
            query = _query(request)
        except ParameterError as exc:
            return _bad(exc)
        if denied := _forbidden(request, query):
            return denied
        items: list[dict[str, Any]] = metric_items(name, query, now=timezone.now())
        paginator = ItemsPagination()
        try:
            page = paginator.paginate_queryset(items, request, view=self)
        except NotFound:  # not a number, below 1 or past the last page
            pages = paginator.django_paginator_class(items, paginator.get_page_size(request))
            return _bad(
                ParameterError(
                    "page",
                    f"page {request.query_params.get('page')!r} is not a page of these "
                    f"{len(items)} items: pages run from 1 to {pages.num_pages}",
                )
            )
        response = paginator.get_paginated_response(page)
        # The items follow the report's definitions: named first, as in the report.
        response.data = {
            "definitions_version": DEFINITIONS_VERSION,
            "definitions_url": DEFINITIONS_URL,
            **response.data,
        }
        return response
