"""Settings, all from the environment (DATABASE_URL, CELERY_BROKER_URL, DJANGO_*, DORA_*)."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env(
    "DJANGO_SECRET_KEY",
    default="insecure-dev-key-set-DJANGO_SECRET_KEY-in-production",  # noqa: S105
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / Redoc served locally, no CDN
    "django_celery_beat",
    "dora.apps.DoraConfig",
    "ingest",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A NUL in the path, query string or a cookie: 400 before any view or session lookup hands
    # it to PostgreSQL, which refuses NUL in text (500 otherwise). Issue 13, finding 7.
    "dora.web.refuse_nul.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dora.urls"
WSGI_APPLICATION = "dora.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded demo database: wait for other writers instead of failing, take the write lock
    # up front (no deadlock on upgrade), and let readers run beside a writer (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
elif DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    # No JIT: the metrics reads are estimated costly (correlated subqueries over 100k+ rows) and
    # PostgreSQL spent 1 s of a 1.3 s read compiling them (bench/metrics.py, EXPLAIN ANALYZE).
    # Prepared statements for the hot paths only (dora.prepared asks for them; Django's own
    # queries bind client-side and never prepare), planned once per connection with a generic
    # plan: their plans do not depend on the values, and planning each execution cost the gate
    # more server CPU than executing (bench/gate.py). Behind a pooler that cannot keep prepared
    # statements (PgBouncer in transaction mode before 1.21), set DORA_PREPARED_STATEMENTS=0.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.setdefault("options", "-c jit=off -c plan_cache_mode=force_generic_plan")
    if env.bool("DORA_PREPARED_STATEMENTS", default=True):
        # Django turns preparing off (None); any threshold lets an explicit prepare=True through,
        # and one this high never prepares anything on its own.
        options.setdefault("prepare_threshold", 1_000_000)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env(
            "DORA_STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly/plotly.min.js from the installed plotly package: no CDN, no copy in git.
    "dora.staticfiles.PlotlyJsFinder",
]
# Our own login page admits team members who are not staff (the admin's refuses them).
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboards/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# Dashboards: 1 lets anonymous visitors read every dashboard (inside a trusted network only).
DORA_PUBLIC_DASHBOARDS = env.bool("DORA_PUBLIC_DASHBOARDS", default=False)
# Dashboard snapshots (dora.web.snapshots): a page's figures are kept this many seconds while
# the facts stay as they were (intake, derivation, a configuration or an admin edit changes
# them). 0 computes every page on every request. Kept in CACHES (DORA_CACHE_URL: e.g.
# redis://redis:6379/1 to share them between web workers and Celery; each process keeps its own
# otherwise).
DORA_DASHBOARD_CACHE_SECONDS = env.int("DORA_DASHBOARD_CACHE_SECONDS", default=300)
# With a Celery worker: a page whose facts changed is shown as it was (saying so) for up to this
# many seconds after it was computed, while a worker computes it again. 0: never shown stale.
DORA_DASHBOARD_STALE_SECONDS = env.int("DORA_DASHBOARD_STALE_SECONDS", default=900)
# The Celery queue those computations go to ('' the default one): a queue of their own, with its
# own worker, keeps a several-second organisation page from delaying intake and derivation tasks.
DORA_DASHBOARD_REFRESH_QUEUE = env("DORA_DASHBOARD_REFRESH_QUEUE", default="")
# Beat's `dashboards-prepare` computes, after a change, the organisation-wide pages and, with
# this on, every team's week too (each about half a second on a 500-service estate), so a team's
# first viewer after a change does not wait for it either.
DORA_DASHBOARD_PREPARE_TEAMS = env.bool("DORA_DASHBOARD_PREPARE_TEAMS", default=True)
CACHES = {
    "default": env.cache_url("DORA_CACHE_URL", default="locmemcache://dora-dashboards")
    if env("DORA_CACHE_URL", default="")
    else {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "dora-dashboards",
        "OPTIONS": {"MAX_ENTRIES": 200},  # a leadership estate page keeps about 1 MB
    }
}
# Gate decisions are committed without waiting for PostgreSQL to flush its WAL to disk: a
# database crash can lose the last fraction of a second of decision records (nothing else), and
# a busy disk no longer adds hundreds of milliseconds to an answer (README, "Promotion gate
# under load"). DORA_GATE_DURABLE_DECISIONS=1 waits for the flush, as every other write does.
DORA_GATE_DURABLE_DECISIONS = env.bool("DORA_GATE_DURABLE_DECISIONS", default=False)

# Celery: without a broker URL, tasks run eagerly in the calling process (laptop, demo, tests).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or None
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or "") or None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The whole beat schedule, in one place.
CELERY_BEAT_SCHEDULE = {
    "derive-pending": {"task": "dora.tasks.derive_pending_task", "schedule": 300.0},
    # The organisation-wide dashboards computed before a leader asks (dora.web.snapshots), on
    # the refresh queue (DORA_DASHBOARD_REFRESH_QUEUE) when there is one.
    "dashboards-prepare": {
        "task": "dora.tasks.snapshots_prepare_task",
        "schedule": 300.0,
        "options": {"queue": DORA_DASHBOARD_REFRESH_QUEUE} if DORA_DASHBOARD_REFRESH_QUEUE else {},
    },
    # Queues the sources whose own `interval` has passed (ingest.schedule): per-source intervals
    # without editing this schedule.
    "sources-dispatch": {"task": "ingest.tasks.source_sync_dispatch_task", "schedule": 60.0},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dora.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's defaults with a JSON parser that answers deep nesting, non-finite numbers and lone
    # surrogates with 400 instead of 500 (issue 13, finding 7).
    "DEFAULT_PARSER_CLASSES": [
        "dora.api.parsers.CheckedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Delivery metrics API",
    "DESCRIPTION": "Event intake, DORA metrics and the promotion gate.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Intake limits: a body larger than this is refused with 413 before it is parsed.
DORA_MAX_BODY_BYTES = env.int("DORA_MAX_BODY_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = DORA_MAX_BODY_BYTES
DORA_MAX_EVENTS_PER_REQUEST = env.int("DORA_MAX_EVENTS_PER_REQUEST", default=5000)

# GitHub webhook sources: POST /webhooks/github is the source "github", /webhooks/github/<name>
# any other. Each names the environment variable holding its secret (never the secret itself);
# optional "deployments" and "incidents" take the keys of a dora.yml source (CONTRACT §2).
DORA_GITHUB_WEBHOOKS = {
    "github": {
        "secret_env": env("DORA_GITHUB_WEBHOOK_SECRET_ENV", default="DORA_GITHUB_WEBHOOK_SECRET")
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"gate_answers": {"()": "dora.logfilters.BlockedPromotionFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["gate_answers"]}},
    "root": {"handlers": ["console"], "level": env("DORA_LOG_LEVEL", default="WARNING")},
}
