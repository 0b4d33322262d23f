"""REST API routes (v1)."""

from django.urls import path

from dora.api.events import EventIntakeApi

urlpatterns = [
    path("events", EventIntakeApi.as_view(), name="api-events"),
]
