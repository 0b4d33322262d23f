"""Settings, all from the environment (DATABASE_URL, CELERY_BROKER_URL, DJANGO_*, DORA_*)."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# --- Secret key (issue 13): refuse the development default outside DEBUG ---------------------
DEVELOPMENT_SECRET_KEY = "insecure-dev-key-set-DJANGO_SECRET_KEY-in-production"  # noqa: S105
SECRET_KEY = env("DJANGO_SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY in ("", DEVELOPMENT_SECRET_KEY):
    # A key everyone can read in this repository would let anyone forge session cookies (log in
    # as any user) and signed values: production (DEBUG off) never starts with it.
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set (or is the development default) while DJANGO_DEBUG is "
        "off. Set DJANGO_SECRET_KEY to a long random secret, e.g. the output of "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))', and keep it the same "
        "across restarts and for every web, worker and beat process (changing it logs "
        "everyone out). For a laptop demo set DJANGO_DEBUG=1 instead."
    )
# ---------------------------------------------------------------------------------------------
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

# --- Request deadlines (issue 13, finding 5) -------------------------------------------------
# dora.deadline cuts the database connection of a request still waiting for PostgreSQL after
# DORA_REQUEST_TIMEOUT_SECONDS (above DORA_DB_STATEMENT_TIMEOUT, so a slow statement gets the
# server's own error first; below gunicorn's worker timeout, gunicorn.conf.py), and of a
# promotion-gate request after DORA_GATE_TIMEOUT_SECONDS: the gate answers 503 (fails closed)
# when the database does not answer, where statement_timeout cannot help (a frozen server).
DORA_REQUEST_TIMEOUT_SECONDS = env.float("DORA_REQUEST_TIMEOUT_SECONDS", default=45)
DORA_GATE_TIMEOUT_SECONDS = env.float("DORA_GATE_TIMEOUT_SECONDS", default=5)
# DORA's published Quick Check 2025 industry file (not in the repository): the 2025 benchmark
# needs it. Also looked for at dora/metrics/data/quick_check_2025.json and
# <repository root>/../shared/benchmarks/quick_check_2025.json (dora.benchmarks).
DORA_QUICK_CHECK_2025_FILE = env("DORA_QUICK_CHECK_2025_FILE", default="")
# Where the sync of a `git` source given by url keeps its bare clones, one directory per source
# (docs/LOCAL-GIT.md); the worker must be able to write there. DORA_GIT_TIMEOUT_SECONDS: the
# longest one git clone or fetch may run before the sync gives up (it resumes next time).
DORA_GIT_CACHE = env("DORA_GIT_CACHE", default=str(BASE_DIR / "var" / "git"))
DORA_GIT_TIMEOUT_SECONDS = env.float("DORA_GIT_TIMEOUT_SECONDS", default=1800)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "dora.deadline.DatabaseDeadlineMiddleware",
)
# --- end of request deadlines -----------------------------------------------------------------

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
                "dora.web.definitions.definitions_context",  # every page's footer
                "dora.web.navigation.navigation_context",  # every page's header
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

# --- Database timeouts (issue 13, finding 5) --------------------------------------------------
# DORA_DB_CONNECT_TIMEOUT: seconds to establish a connection, authentication included (psycopg's
# connect_timeout; 2 at least, libpq's rule). Without it psycopg waits 130 s for a host that
# does not answer. Keep it at or below DORA_GATE_TIMEOUT_SECONDS: a connection being made
# cannot be cut by the deadline watchdog (dora.deadline).
DORA_DB_CONNECT_TIMEOUT = env.int("DORA_DB_CONNECT_TIMEOUT", default=3)
# DORA_DB_STATEMENT_TIMEOUT: seconds one statement of a web request or a Celery task may run
# before PostgreSQL cancels it (statement_timeout; 0: no limit). The organisation-wide
# metrics read of the 500-service bench estate takes about 6 s in all (docs/PERFORMANCE.md,
# "Metrics at scale"), so 30 s leaves room for a larger estate on a slower machine. manage.py
# commands (migrate, import_events, derive: index builds and bulk statements an operator
# watches) use DORA_DB_COMMAND_STATEMENT_TIMEOUT instead, no limit by default; manage.py sets
# DORA_PROCESS.
DORA_PROCESS = env("DORA_PROCESS", default="server")
DORA_DB_STATEMENT_TIMEOUT = (
    env.float("DORA_DB_COMMAND_STATEMENT_TIMEOUT", default=0)
    if DORA_PROCESS == "command"
    else env.float("DORA_DB_STATEMENT_TIMEOUT", default=30)
)
if DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.setdefault("connect_timeout", DORA_DB_CONNECT_TIMEOUT)
    if DORA_DB_STATEMENT_TIMEOUT > 0 and "statement_timeout" not in options.get("options", ""):
        statement_ms = int(DORA_DB_STATEMENT_TIMEOUT * 1000)
        options["options"] = f"{options.get('options', '')} -c statement_timeout={statement_ms}"
# --- end of database timeouts -----------------------------------------------------------------
# --- Reads on a replica (issue 18) -------------------------------------------------------------
# DATABASE_REPLICA_URL (optional): a PostgreSQL streaming replica of DATABASE_URL. The dashboards,
# the metrics API and the leadership report read there (dora.db_router) while it answers and its
# replay is at most DORA_REPLICA_MAX_LAG seconds behind, measured at most every
# DORA_REPLICA_CHECK_SECONDS per process; else, and always for the gate, intake, derivation, the
# admin and every write, the primary. docs/OPERATIONS.md, "Reads on a replica".
DORA_REPLICA_MAX_LAG = env.float("DORA_REPLICA_MAX_LAG", default=30)
DORA_REPLICA_CHECK_SECONDS = env.float("DORA_REPLICA_CHECK_SECONDS", default=5)
if env("DATABASE_REPLICA_URL", default=""):
    replica = env.db("DATABASE_REPLICA_URL")
    if not (
        replica["ENGINE"].startswith("django.db.backends.postgresql")
        and DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
    ):
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL is a PostgreSQL streaming replica of a PostgreSQL "
            "DATABASE_URL: both must be postgres:// URLs."
        )
    DATABASES["replica"] = {
        **replica,
        # The primary's connection options (timeouts, no JIT, prepared statements), the
        # replica's own (from its URL's query string) over them.
        "OPTIONS": {**DATABASES["default"].get("OPTIONS", {}), **replica.get("OPTIONS", {})},
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        # The test runner creates no database on a read-only replica: tests read the test
        # database through it (dora.db_router then reads on default: the same database).
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["dora.db_router.ReplicaRouter"]
# --- end of reads on a replica ------------------------------------------------------------------
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
# "/" sends each viewer on to where they start (dora.web.navigation.landing_url); an explicit
# ?next= wins.
LOGIN_REDIRECT_URL = "/"
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
# --- Cache outages (issue 13, finding 4) -----------------------------------------------------
# A Redis cache that is down or does not answer costs a page at most these seconds per cache
# call (redis-py waits for ever by default); the page is then computed without it
# (dora.web.snapshots).
DORA_CACHE_TIMEOUT_SECONDS = env.float("DORA_CACHE_TIMEOUT_SECONDS", default=1.0)
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"].setdefault("OPTIONS", {})
    CACHES["default"]["OPTIONS"].setdefault("socket_connect_timeout", DORA_CACHE_TIMEOUT_SECONDS)
    CACHES["default"]["OPTIONS"].setdefault("socket_timeout", DORA_CACHE_TIMEOUT_SECONDS)
# --- end of cache outages ---------------------------------------------------------------------
# Gate decisions are committed without waiting for PostgreSQL to flush its WAL to disk: a
# database crash can lose the last fraction of a second of decision records (nothing else), and
# a busy disk no longer adds hundreds of milliseconds to an answer (docs/PERFORMANCE.md,
# "Promotion gate under load"). DORA_GATE_DURABLE_DECISIONS=1 waits for the flush, as every
# other write does.
DORA_GATE_DURABLE_DECISIONS = env.bool("DORA_GATE_DURABLE_DECISIONS", default=False)

# Celery: without a broker URL, tasks run eagerly in the calling process (laptop, demo, tests).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or None
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or "") or None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# --- Broker outages (issue 13, finding 4) ------------------------------------------------------
# A web request that queues a task while Redis is down must not hang: each connection attempt
# is bounded, the publish is tried twice, and the caller logs the failure and carries on
# (dora.health.task_send).
DORA_BROKER_TIMEOUT_SECONDS = env.float("DORA_BROKER_TIMEOUT_SECONDS", default=2.0)
CELERY_BROKER_CONNECTION_TIMEOUT = DORA_BROKER_TIMEOUT_SECONDS
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": DORA_BROKER_TIMEOUT_SECONDS,
    "socket_timeout": max(DORA_BROKER_TIMEOUT_SECONDS, 5.0),  # above BRPOP's 1 s block
}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = DORA_BROKER_TIMEOUT_SECONDS  # the result backend
# --- end of broker outages ---------------------------------------------------------------------
# --- Celery delivery (issue 13, finding 10) --------------------------------------------------
# Every task is idempotent (each task's docstring says why), so a task is run again rather than
# lost: a pool process killed mid-task (out of memory, kill -9) has its message put back on the
# queue (acks_late alone would acknowledge it as failed), and a task whose whole worker died
# (its message delivered, never acknowledged) is handed to another worker once the Redis
# transport's visibility timeout has passed. The trade-off: a task still running after that
# timeout is delivered a second time while the first run goes on, so every task gets a time
# limit below it (soft: SoftTimeLimitExceeded is raised in the task; hard: its process is
# killed, and the message is acknowledged as failed, not re-queued). A task that kills its own
# process every time (a memory blow-up) is re-queued every time: watch the worker log for
# WorkerLostError. Retry countdowns (source syncs back off up to 15 minutes) stay below the
# visibility timeout too, or Redis hands the waiting task out again.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
DORA_CELERY_VISIBILITY_TIMEOUT = env.int("DORA_CELERY_VISIBILITY_TIMEOUT", default=1800)
DORA_CELERY_TASK_TIME_LIMIT = env.int("DORA_CELERY_TASK_TIME_LIMIT", default=1500)
if DORA_CELERY_TASK_TIME_LIMIT >= DORA_CELERY_VISIBILITY_TIMEOUT:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"DORA_CELERY_TASK_TIME_LIMIT ({DORA_CELERY_TASK_TIME_LIMIT} s) must be below "
        f"DORA_CELERY_VISIBILITY_TIMEOUT ({DORA_CELERY_VISIBILITY_TIMEOUT} s), or a task still "
        "running is handed to a second worker."
    )
CELERY_TASK_TIME_LIMIT = DORA_CELERY_TASK_TIME_LIMIT
CELERY_TASK_SOFT_TIME_LIMIT = DORA_CELERY_TASK_TIME_LIMIT - max(
    1, min(60, DORA_CELERY_TASK_TIME_LIMIT // 10)
)
CELERY_BROKER_TRANSPORT_OPTIONS.update(
    {
        "visibility_timeout": DORA_CELERY_VISIBILITY_TIMEOUT,
        # Look for abandoned (unacknowledged) messages every 10 s, not every 100 s.
        "unacked_restore_interval": min(10, max(1, DORA_CELERY_VISIBILITY_TIMEOUT // 4)),
        "unacked_restore_throttle": 1,
    }
)
# --- end of Celery delivery -------------------------------------------------------------------
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
    # Alerts (dora.alerts, docs/ALERTS.md): conditions evaluated, deliveries lost by the broker
    # queued again.
    "alerts-evaluate": {
        "task": "dora.tasks.alerts_evaluate_task",
        "schedule": float(env.int("DORA_ALERTS_INTERVAL_SECONDS", default=300)),
    },
    # The weekly team digests (Monday from 08:00 in each team's zone) and the monthly leadership
    # digest (the 1st from 08:00 UTC): each run sends what is due and not yet sent
    # (dora.digests, docs/DIGESTS.md), so a quarter hour is the most a digest waits.
    "digests-send": {"task": "dora.tasks.digests_send_task", "schedule": 900.0},
}

# --- Alerts (docs/ALERTS.md) ------------------------------------------------------------------
# Links in alerts are made absolute with DORA_BASE_URL (below, with the e-mail settings).
# What is evaluated: dotted paths of condition providers (dora.alerts.evaluate.Condition).
DORA_ALERT_PROVIDERS = env.list(
    "DORA_ALERT_PROVIDERS",
    default=[
        "dora.alerts.providers.stale_environments",
        "dora.alerts.providers.spread_over_limit",
        "dora.alerts.providers.gate_blocks",
        "dora.alerts.targets.targets_missed",
    ],
)
# A blocked promotion is alerted when evaluated within this long after the gate's answer.
DORA_ALERT_GATE_BLOCK_WINDOW_SECONDS = env.int("DORA_ALERT_GATE_BLOCK_WINDOW_SECONDS", default=3600)
# Attempts per delivery, and the waits between them (seconds; the last wait repeats). Kept
# below DORA_CELERY_VISIBILITY_TIMEOUT, like every retry countdown.
DORA_ALERT_DELIVERY_ATTEMPTS = env.int("DORA_ALERT_DELIVERY_ATTEMPTS", default=5)
DORA_ALERT_RETRY_DELAYS = [
    int(v) for v in env.list("DORA_ALERT_RETRY_DELAYS", default=["30", "120", "480", "900"])
]
DORA_ALERT_CONNECT_TIMEOUT_SECONDS = env.float("DORA_ALERT_CONNECT_TIMEOUT_SECONDS", default=5.0)
DORA_ALERT_READ_TIMEOUT_SECONDS = env.float("DORA_ALERT_READ_TIMEOUT_SECONDS", default=10.0)
# Email alerts go through the e-mail settings below (EMAIL_URL, DORA_EMAIL_FROM).
# --- end of alerts ------------------------------------------------------------------------------

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
# An event naming a service that does not exist (CONTRACT §1, dora.estate.UnknownServices):
# "create" it (the demo's choice), "warn" (create it, answer the item with a warning, list it in
# the admin's "Services without configuration") or "reject" the item naming the known services.
# Unset: "reject" once apply_config (or the admin) has declared any service, else "create".
DORA_UNKNOWN_SERVICES = env("DORA_UNKNOWN_SERVICES", default="").strip().lower()
if DORA_UNKNOWN_SERVICES not in ("", "create", "warn", "reject"):
    raise ImproperlyConfigured(
        f"DORA_UNKNOWN_SERVICES={DORA_UNKNOWN_SERVICES!r}: use create, warn or reject "
        "(or leave it unset: reject once a service is configured, else create)"
    )

# GitHub webhook sources: POST /webhooks/github is the source "github", /webhooks/github/<name>
# any other. Each names the environment variable holding its secret (never the secret itself);
# optional "deployments" and "incidents" take the keys of a dora.yml source (CONTRACT §2).
DORA_GITHUB_WEBHOOKS = {
    "github": {
        "secret_env": env("DORA_GITHUB_WEBHOOK_SECRET_ENV", default="DORA_GITHUB_WEBHOOK_SECRET")
    },
}

# PagerDuty webhook sources (ingest.sources.pagerduty.webhook): POST /webhooks/pagerduty is the
# source "pagerduty", /webhooks/pagerduty/<name> any other. "services" maps a PagerDuty service id
# (or name) to ours (DORA_PAGERDUTY_SERVICES="PXXXXXX=checkout,PYYYYYY=web"); an incident of an
# unmapped service is skipped with a reason. Optional "environment" and "urgency_severity".
DORA_PAGERDUTY_WEBHOOKS = {
    "pagerduty": {
        "secret_env": env(
            "DORA_PAGERDUTY_WEBHOOK_SECRET_ENV", default="DORA_PAGERDUTY_WEBHOOK_SECRET"
        ),
        "services": env.dict("DORA_PAGERDUTY_SERVICES", default={}),
    },
}

# Opsgenie webhook sources (ingest.sources.opsgenie.webhook) besides the `sources:` entries of kind
# opsgenie: the secret is the value of the X-Opsgenie-Token header set on the Opsgenie webhook
# integration. Without "alerts_tag" (and "services") here, deliveries are only kept raw.
DORA_OPSGENIE_WEBHOOKS = {
    "opsgenie": {
        "secret_env": env(
            "DORA_OPSGENIE_WEBHOOK_SECRET_ENV", default="DORA_OPSGENIE_WEBHOOK_SECRET"
        ),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"gate_answers": {"()": "dora.logfilters.BlockedPromotionFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["gate_answers"]}},
    "root": {"handlers": ["console"], "level": env("DORA_LOG_LEVEL", default="WARNING")},
}

# ---------------------------------------------------------------------------------------------
# Deployment hardening (issue 13): HTTPS behind a TLS-terminating proxy, security headers, the
# Content-Security-Policy and login throttling. docs/OPERATIONS.md.
# ---------------------------------------------------------------------------------------------
# Always: no script reads the session cookie, no page in a frame, no MIME sniffing, no full URL
# (with its query string: team and service names) in the Referer sent to other sites.
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SILENCED_SYSTEM_CHECKS: list[str] = []
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # models.W040: SQLite has no covering indexes, so Commit's commit_sha_times_idx (and the
    # value stream's change_merged_idx and arrival_change_env_idx) are created without their
    # INCLUDE columns there. The indexes still serve every lookup; the INCLUDE only spares
    # PostgreSQL a heap read. Harmless on the embedded demo database, and `migrate` printed it
    # on every run.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
# DORA_HTTPS=1: browsers reach the service over HTTPS only (docker-compose.yml sets it: it runs
# behind a TLS-terminating proxy). Cookies are sent over HTTPS only, browsers are told to
# use HTTPS for this host (HSTS), and a plain-HTTP page request is redirected to HTTPS.
DORA_HTTPS = env.bool("DORA_HTTPS", default=False)
if DORA_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # One year, this host only: a sibling subdomain may still serve plain HTTP, so including
    # subdomains (and preloading, which is hard to undo) is the operator's decision.
    SECURE_HSTS_SECONDS = env.int("DORA_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DORA_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("DORA_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_INCLUDE_SUBDOMAINS:
        # check --deploy asks for includeSubDomains; this service cannot know that every
        # subdomain of its host serves HTTPS, so it is off unless DORA_HSTS_INCLUDE_SUBDOMAINS=1.
        SILENCED_SYSTEM_CHECKS.append("security.W005")
    if not SECURE_HSTS_PRELOAD:
        # check --deploy asks for preload; browsers' preload lists are a commitment for the
        # whole domain that takes months to undo: off unless DORA_HSTS_PRELOAD=1.
        SILENCED_SYSTEM_CHECKS.append("security.W021")
    # The proxy terminates TLS and says so in X-Forwarded-Proto (it must set or strip that
    # header on every request). DORA_HTTPS_PROXY=0 when gunicorn itself terminates TLS.
    if env.bool("DORA_HTTPS_PROXY", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DORA_SSL_REDIRECT", default=True)
    # Never redirected: the health probes and machine callers (CI pipelines calling the gate
    # or sending events, webhooks) inside the cluster over plain HTTP. A redirect cannot
    # protect a request already sent, and HTTP clients do not repeat a POST after a redirect.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^api/v1/", r"^webhooks/"]

# Content-Security-Policy on every response (dora.csp): scripts, styles, images, fonts and
# connections from this origin only, no inline script, no eval, no framing.
MIDDLEWARE += ["dora.csp.ContentSecurityPolicyMiddleware"]

# Login throttling (django-axes): after DORA_LOGIN_FAILURE_LIMIT wrong passwords for one
# username from one address, that pair is refused for DORA_LOGIN_COOLOFF_MINUTES (each further
# attempt during the lockout starts the cool-off again), on our login page and the admin's.
# Attempts are kept in the database, so every web worker counts them together.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last: it turns a lockout into the page
AUTHENTICATION_BACKENDS = [
    "dora.web.login.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("DORA_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("DORA_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "dora.web.login.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # failures are kept; successful logins are not logged
AXES_CLIENT_IP_CALLABLE = "dora.web.login.client_ip"
# Behind proxies that append the client's address to X-Forwarded-For, how many: the client is
# the address that many places from the right. 0 (default): the connection's own address.
DORA_TRUSTED_PROXY_COUNT = env.int("DORA_TRUSTED_PROXY_COUNT", default=0)
# GET /metrics (Prometheus, dora.web.prometheus): who may scrape without a `metrics` token, as
# CIDRs (loopback always may, unless the request came through a proxy that is not trusted), and
# for how many seconds each service's headline figures are kept between scrapes (0: computed on
# every scrape).
DORA_METRICS_ALLOWED_NETWORKS = env.list("DORA_METRICS_ALLOWED_NETWORKS", default=[])
DORA_METRICS_CACHE_SECONDS = env.int("DORA_METRICS_CACHE_SECONDS", default=300)

# ---------------------------------------------------------------------------------------------
# E-mail and the digests (docs/DIGESTS.md)
# ---------------------------------------------------------------------------------------------
# EMAIL_URL (django-environ): smtp://user:password@host:587 (smtp+tls://, smtp+ssl://), or
# consolemail:// (print every message: the demo's) or dummymail://. Unset: the console, so a
# server without mail settings never tries to reach an SMTP host nobody configured.
# DJANGO_EMAIL_BACKEND overrides the backend class only (e.g. a provider's).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
if env("DJANGO_EMAIL_BACKEND", default=""):
    EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND")
EMAIL_TIMEOUT = env.int("DORA_EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env("DORA_EMAIL_FROM", default="Delivery metrics <dora@localhost>")
# The server's public address, for the absolute links in e-mails, digests and alerts (no
# request to take it from).
DORA_BASE_URL = env("DORA_BASE_URL", default="http://localhost:8000").rstrip("/")
# Digests on or off (the beat task sends nothing when off; `send_digests` still previews).
DORA_DIGESTS = env.bool("DORA_DIGESTS", default=True)
# The hour (local to each team; UTC for the leadership digest) from which a digest is due.
DORA_DIGEST_HOUR = env.int("DORA_DIGEST_HOUR", default=8)
