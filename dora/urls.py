"""URL wiring."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic.base import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from dora.web import definitions, explain, gate_pages, overview, weeks
from dora.web import estate as estate_views
from dora.web import leadership as leadership_views
from dora.web import prometheus as prometheus_views
from dora.web import views as web_views
from ingest.sources.gitlab.views import gitlab_webhook
from ingest.sources.opsgenie.webhook import opsgenie_webhook
from ingest.sources.pagerduty.webhook import pagerduty_webhook
from ingest.webhooks import source_webhook

urlpatterns = [
    path("", web_views.home, name="home"),  # a redirect to where the viewer starts
    path("healthz", web_views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico where a response names no icon (a PDF, a JSON error).
    # Lazy: the static files manifest is read on the first request, not when URLs load.
    path(
        "favicon.ico",
        RedirectView.as_view(url=lazy(static, str)("dora/favicon.svg"), permanent=True),
    ),
    path("definitions/", definitions.definitions_page, name="definitions"),
    path("definitions.md", definitions.definitions_text, name="definitions-text"),
    path("readyz", web_views.readyz, name="readyz"),
    path("metrics", prometheus_views.prometheus_metrics, name="prometheus-metrics"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("dashboards/", overview.overview, name="dashboard-overview"),
    path("dashboards/team", weeks.team, name="dashboard-team"),
    path("dashboards/service", weeks.service, name="dashboard-service"),
    path("dashboards/explain/<str:name>", explain.explain, name="dashboard-explain"),
    # The Estate section: two tabs, the matrix and the configuration (once the home page).
    path("dashboards/estate", estate_views.estate, name="dashboard-estate"),
    path(
        "dashboards/estate/configuration",
        estate_views.estate_configuration,
        name="dashboard-estate-configuration",
    ),
    path("dashboards/gate", gate_pages.gate_decisions, name="dashboard-gate"),
    path(
        "dashboards/gate/<uuid:decision_id>",
        gate_pages.gate_decision,
        name="dashboard-gate-decision",
    ),
    path("dashboards/report", leadership_views.leadership, name="dashboard-report"),
    path("dashboards/report.pdf", leadership_views.leadership_pdf, name="dashboard-report-pdf"),
    path("dashboards/report.csv", leadership_views.leadership_csv, name="dashboard-report-csv"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("dora.api.urls")),
    # GitLab, PagerDuty and Opsgenie have views of their own until they register a Provider
    # (ingest.sources.registry); these explicit lines win over the general routes below.
    path("webhooks/pagerduty", pagerduty_webhook, name="webhook-pagerduty"),
    path("webhooks/pagerduty/<str:source>", pagerduty_webhook, name="webhook-pagerduty-source"),
    path("webhooks/opsgenie", opsgenie_webhook, name="webhook-opsgenie"),
    path("webhooks/opsgenie/<str:source>", opsgenie_webhook, name="webhook-opsgenie-source"),
    path("webhooks/gitlab", gitlab_webhook, name="webhook-gitlab"),
    path("webhooks/gitlab/<str:source>", gitlab_webhook, name="webhook-gitlab-source"),
    # One route per shape, the provider found by kind (ingest.sources.registry).
    path("webhooks/<str:provider>", source_webhook, name="webhook"),
    path("webhooks/<str:provider>/<str:source>", source_webhook, name="webhook-source"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI's JS/CSS come from drf-spectacular-sidecar (static files), never a CDN; its
    # init script is served as a file (?script), not inline (Content-Security-Policy, dora.csp).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

# The API and the webhooks answer every error as JSON (dora.api.errors); pages keep Django's.
handler400 = "dora.api.errors.bad_request"
handler403 = "dora.api.errors.permission_denied"
handler404 = "dora.api.errors.not_found"
handler500 = "dora.api.errors.server_error"
