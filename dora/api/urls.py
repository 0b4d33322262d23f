"""REST API routes (v1)."""

from django.urls import path

from dora.api.events import EventIntakeApi
from dora.api.gates import PromotionGateApi
from dora.api.metrics import MetricItemsApi, MetricsApi

urlpatterns = [
    path("events", EventIntakeApi.as_view(), name="api-events"),
    path("metrics", MetricsApi.as_view(), name="api-metrics"),
    path("metrics/<str:name>/items", MetricItemsApi.as_view(), name="api-metric-items"),
    path("gates/promotion", PromotionGateApi.as_view(), name="api-gate-promotion"),
]
