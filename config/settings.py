"""The one settings module. Every value comes from the environment, with defaults that work on a
developer machine (PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379). The README has the
table of variables."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- Environment -------------------------------------------------------------------------------

APP_ENV = env_str("APP_ENV", "development")
if APP_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured("APP_ENV must be one of development, test, production")

DEBUG = env_bool("DJANGO_DEBUG", APP_ENV == "development")
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET_KEY)
if APP_ENV == "production":
    if SECRET_KEY == _DEV_SECRET_KEY:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when APP_ENV=production")
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_DEBUG must be off when APP_ENV=production")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

# --- Applications ------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "idempotency",
    "employers",
    "partners",
    "memberships",
    "billing",
    "notifications",
    "ledger",
    "web",
    "simulation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"  # the web pages (web/); the API uses bearer tokens
LOGIN_REDIRECT_URL = "/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "web.navigation.navigation",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/membership_billing")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://…)")
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int(
    "DATABASE_CONNECT_TIMEOUT_SECONDS", 5
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "billing"),
    }
}

# --- Celery ------------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message an `acks_late` task took is acknowledged only after the task ran. If the worker's
# pool process dies, Celery puts it back at once (`reject_on_worker_lost`); if the whole worker
# dies (SIGKILL, machine lost), Redis hands it to another worker once it has been out this many
# seconds (workers look for such messages every tenth of it, at least every 10 s). It must
# exceed the longest task, or a task still running is handed out twice (harmless for the
# idempotent tasks that use `acks_late`, but wasted work).
_BROKER_VISIBILITY_TIMEOUT = env_int("CELERY_BROKER_VISIBILITY_TIMEOUT_SECONDS", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = (
    {
        "visibility_timeout": _BROKER_VISIBILITY_TIMEOUT,
        "unacked_restore_interval": max(1, min(10, _BROKER_VISIBILITY_TIMEOUT // 10)),
        "unacked_restore_throttle": 1,
    }
    if CELERY_BROKER_URL.partition("://")[0] in {"redis", "rediss", "redis+socket"}
    else {}
)
# kombu's Redis transport with a fix that keeps a worker alive through a Redis restart
# (config/broker_transport.py). A `redis+socket://` URL (the embedded Redis of bin/run) names
# kombu's transport itself and goes without the fix.
if CELERY_BROKER_URL.startswith("redis://"):
    CELERY_BROKER_TRANSPORT = "config.broker_transport:Transport"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "stripe-outbox-push": {"task": "billing.tasks.stripe_outbox_push_task", "schedule": 10.0},
    "stripe-events-sweep": {
        "task": "billing.tasks.stripe_events_process_pending_task",
        "schedule": 60.0,
    },
    "stripe-reconcile": {"task": "billing.tasks.stripe_reconcile_task", "schedule": 6 * 3600.0},
    # The daily bill run (safe to run more often: only due memberships are touched).
    "memberships-renew-due": {
        "task": "memberships.tasks.memberships_renew_due_task",
        "schedule": 3600.0,
    },
    # Employer invoices in arrears and members' shares (only months whose billing day has come
    # and that are not invoiced yet are touched, so running it hourly is safe).
    "employers-invoicing-run": {
        "task": "employers.invoicing_tasks.employer_invoicing_run_task",
        "schedule": 3600.0,
    },
    # Upcoming-renewal emails (once per membership and period, however often this runs).
    "memberships-renewal-reminders": {
        "task": "memberships.tasks.memberships_renewal_reminders_task",
        "schedule": 3600.0,
    },
    # Emails whose task was lost, or whose delivery is due for another attempt.
    "notifications-send-due": {
        "task": "notifications.tasks.notifications_send_due_task",
        "schedule": 60.0,
    },
    # Revenue recognition up to today (a re-run the same day posts nothing).
    "ledger-recognize": {"task": "ledger.tasks.ledger_recognize_task", "schedule": 3600.0},
    # Sponsored memberships whose enrollment ended are canceled the next day (safe to re-run).
    "employers-sponsored-memberships-end": {
        "task": "employers.enrollment_tasks.sponsored_memberships_end_due_task",
        "schedule": 3600.0,
    },
    "idempotency-purge": {
        "task": "idempotency.tasks.idempotency_records_purge_task",
        "schedule": 3600.0,
    },
}
# Task modules outside the autodiscovered `tasks.py` files.
CELERY_IMPORTS = ("employers.invoicing_tasks", "employers.enrollment_tasks")
# Seconds a health check waits for the database or the broker before calling it down.
HEALTH_CHECK_TIMEOUT_SECONDS = env_int("HEALTH_CHECK_TIMEOUT_SECONDS", 2)

# --- Auth --------------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Lifetime of a bearer token issued by POST /api/v1/auth/token/.
AUTH_TOKEN_TTL = timedelta(hours=env_int("AUTH_TOKEN_TTL_HOURS", 24 * 7))
# How long the answer to a request with an Idempotency-Key is replayed (idempotency/); after
# that the key counts as new.
IDEMPOTENCY_KEY_TTL = timedelta(hours=env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24))
if IDEMPOTENCY_KEY_TTL.total_seconds() <= 0:
    raise ImproperlyConfigured("IDEMPOTENCY_KEY_TTL_HOURS must be at least 1")

# --- REST framework and OpenAPI ----------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Bearer first: its WWW-Authenticate header makes "no or bad credentials" a 401.
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: a view that does not declare who may call it answers 403.
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.RolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser with a size limit (413) and a nesting limit (400): config/parsers.py
    "DEFAULT_PARSER_CLASSES": ["config.parsers.BoundedJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.content_negotiation.JSONFallbackNegotiation",
    "DEFAULT_PAGINATION_CLASS": "config.pagination.StrictLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.openapi.ErrorDocumentingAutoSchema",
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth": env_str("THROTTLE_AUTH_RATE", "10/min"),
        "signup": env_str("THROTTLE_SIGNUP_RATE", "30/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Proxies in front of the app whose X-Forwarded-For entries are trusted; with 0 the client
    # is REMOTE_ADDR, so a forged header cannot dodge the login rate limit.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Membership billing API",
    "DESCRIPTION": (
        "Memberships, employer rosters, invoices and partner revenue share. "
        'Errors always have the shape {"error": {"code", "message", "details"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi_links.links_add",  # links between operations (stateful fuzzing)
    ],
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "accounts.models.Role",
        "MembershipStatusEnum": "memberships.models.MembershipStatus",
        "InvoiceStatusEnum": "billing.models.InvoiceStatus",
        "InvoiceLineKindEnum": "billing.models.InvoiceLineKind",
        "PaymentStatusEnum": "billing.models.PaymentStatus",
        "RefundStatusEnum": "billing.models.RefundStatus",
        "CreditNoteStatusEnum": "billing.models.CreditNoteStatus",
        "StatementStatusEnum": "ledger.models.StatementStatus",
        "ContributionKindEnum": "employers.models.ContributionKind",
        "RosterChangeKindEnum": "employers.models.RosterChangeKind",
        "RosterImportStatusEnum": "employers.models.RosterImportStatus",
        "RosterImportActionEnum": "employers.models.RosterImportAction",
    },
    "APPEND_COMPONENTS": {
        "schemas": {
            "ErrorBody": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "example": "not_found"},
                    "message": {"type": "string", "example": "Not found."},
                    "details": {"type": "object", "additionalProperties": True},
                },
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}},
            },
        }
    },
}

# --- HTTP hardening ----------------------------------------------------------------------------

DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)
# A multipart body (a roster CSV, at most 20 MB, plus its form) larger than this is a 413 before
# any of it is read (config/uploads.py); files over 2.5 MB are spooled to disk, not memory.
FILE_UPLOAD_MAX_BYTES = env_int("FILE_UPLOAD_MAX_BYTES", 21 * 1024 * 1024)
FILE_UPLOAD_HANDLERS = [
    "config.uploads.UploadSizeLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
CSRF_FAILURE_VIEW = "config.api_errors.csrf_failure"
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if APP_ENV == "production":
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Time, language, static files -------------------------------------------------------------

LANGUAGE_CODE = "en-us"
USE_I18N = False
USE_TZ = True
# The operator's business time zone: billing dates ("today") are dates in this zone.
TIME_ZONE = env_str("TIME_ZONE", "America/New_York")

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Logging -----------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
# Outside production, static files are served straight from the apps (no collectstatic needed).
WHITENOISE_USE_FINDERS = APP_ENV != "production"

# --- Stripe ------------------------------------------------------------------------------------

# Test-mode key. The default talks to the project's Stripe emulator (stripe_emulator/); set a
# real sk_test_… key and STRIPE_API_BASE=https://api.stripe.com to use Stripe's test mode.
STRIPE_API_KEY = env_str("STRIPE_API_KEY", "sk_test_emulator")
STRIPE_API_BASE = env_str(
    "STRIPE_API_BASE",
    "https://api.stripe.com" if APP_ENV == "production" else "http://127.0.0.1:12111",
)
_DEV_WEBHOOK_SECRET = "whsec_dev_emulator"  # noqa: S105  (development default, refused below)
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", _DEV_WEBHOOK_SECRET)
if APP_ENV == "production" and STRIPE_WEBHOOK_SECRET == _DEV_WEBHOOK_SECRET:
    raise ImproperlyConfigured("STRIPE_WEBHOOK_SECRET must be set when APP_ENV=production")
# Live keys (sk_live_…/rk_live_…) are refused unless this is explicitly turned on.
STRIPE_ALLOW_LIVE_KEYS = env_bool("STRIPE_ALLOW_LIVE_KEYS", False)
STRIPE_TIMEOUT_SECONDS = env_int("STRIPE_TIMEOUT_SECONDS", 20)
# Requests per second to Stripe, shared by every worker on every machine (Redis-backed).
# Stripe allows about 25/s in test mode and 100/s live; stay below.
STRIPE_MAX_REQUESTS_PER_SECOND = env_int("STRIPE_MAX_REQUESTS_PER_SECOND", 20)
STRIPE_OUTBOX_BATCH_SIZE = env_int("STRIPE_OUTBOX_BATCH_SIZE", 20)
STRIPE_OUTBOX_LEASE_SECONDS = env_int("STRIPE_OUTBOX_LEASE_SECONDS", 120)
STRIPE_OUTBOX_BACKOFF_BASE_SECONDS = float(env_str("STRIPE_OUTBOX_BACKOFF_BASE_SECONDS", "2"))
STRIPE_OUTBOX_BACKOFF_MAX_SECONDS = float(env_str("STRIPE_OUTBOX_BACKOFF_MAX_SECONDS", "600"))
STRIPE_OUTBOX_MAX_ATTEMPTS = env_int("STRIPE_OUTBOX_MAX_ATTEMPTS", 25)
# Seconds one run of the push task keeps claiming work before it hands over to the next run.
STRIPE_OUTBOX_RUN_SECONDS = env_int("STRIPE_OUTBOX_RUN_SECONDS", 50)
# Queue a push task as soon as an outbox row commits (beat runs the pusher anyway).
STRIPE_OUTBOX_WAKE_ON_COMMIT = env_bool("STRIPE_OUTBOX_WAKE_ON_COMMIT", True)
# A webhook whose signed timestamp is older than this is refused (Stripe's default tolerance).
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env_int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)

# --- Stuck work (python manage.py stuck_work, billing/stuck_work.py) ----------------------------

# How late is too late, per kind of work: older than this and not done, it is reported stuck.
STUCK_STRIPE_COMMAND_SECONDS = env_int("STUCK_STRIPE_COMMAND_SECONDS", 900)  # due, not pushed
STUCK_WEBHOOK_EVENT_SECONDS = env_int("STUCK_WEBHOOK_EVENT_SECONDS", 600)  # received, unapplied
STUCK_REFUND_SECONDS = env_int("STUCK_REFUND_SECONDS", 3600)  # refunds and credit notes pending
STUCK_EMAIL_SECONDS = env_int("STUCK_EMAIL_SECONDS", 3600)  # an email due and not sent
STUCK_ROSTER_IMPORT_SECONDS = env_int("STUCK_ROSTER_IMPORT_SECONDS", 1800)  # queued…applying
STUCK_RENEWAL_GRACE_DAYS = env_int("STUCK_RENEWAL_GRACE_DAYS", 1)  # period ended, not renewed
STUCK_RECOGNITION_GRACE_DAYS = env_int("STUCK_RECOGNITION_GRACE_DAYS", 2)  # service over, deferred

# --- Memberships -------------------------------------------------------------------------------

# Dotted path of the Prime verification provider (memberships/prime.py documents the sandbox).
PRIME_VERIFIER = env_str("PRIME_VERIFIER", "memberships.prime.SandboxPrimeVerifier")
# Memberships the bill run renews per transaction (`FOR UPDATE SKIP LOCKED` chunk); a crash
# loses at most the chunk in flight, which the next run redoes.
BILL_RUN_CHUNK_SIZE = env_int("BILL_RUN_CHUNK_SIZE", 500)

# --- Email -------------------------------------------------------------------------------------

# Where emails go: `console` (printed by the Celery worker; the development default), `file`
# (one file per message under EMAIL_FILE_PATH), `smtp` (EMAIL_HOST…; the production default),
# `locmem` (tests), or the dotted path of any Django email backend (a provider's).
_EMAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}
_email_backend = env_str("EMAIL_BACKEND", "smtp" if APP_ENV == "production" else "console")
EMAIL_BACKEND = _EMAIL_BACKENDS.get(_email_backend, _email_backend)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_SECONDS", 20)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Membership billing <billing@example.com>")
# The name emails sign with.
NOTIFICATION_SERVICE_NAME = env_str("NOTIFICATION_SERVICE_NAME", "Primary Care Membership")
# Deliveries refused this many times are marked failed (retried with backoff until then).
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 8)
# Where people open the links emails hold (e.g. an invited employer admin's set-password link,
# `<APP_BASE_URL>/set-password?uid=…&token=…`); such a token lasts PASSWORD_RESET_TIMEOUT.
APP_BASE_URL = env_str("APP_BASE_URL", "http://127.0.0.1:8000")
PASSWORD_RESET_TIMEOUT = env_int("INVITATION_LINK_TTL_SECONDS", 7 * 24 * 3600)
