"""Watchstander settings, read from the environment.

With no environment at all a first run works: DEBUG on, SQLite under ./var, Redis on
localhost, e-mail written to ./var/mail. Production switches on with DEBUG=0 plus
SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and REDIS_URL.
"""

from pathlib import Path

import dj_database_url

from config.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("WATCHSTANDER_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = env_secret("SECRET_KEY", required=not DEBUG, fallback_file=VAR_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Absolute base URL used in links sent to people (e-mails, API responses).
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
# How long the one-click acknowledge/resolve links in a page stay valid.
ACTION_LINK_MAX_AGE_SECONDS = env_int("ACTION_LINK_MAX_AGE_SECONDS", 7 * 24 * 3600)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "guardian",
    "auditlog",
    "django_rq",
    "schedules",
    "escalation",
    "incidents",
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
    # auditlog's middleware, but believing X-Forwarded-For only from AUDIT_TRUSTED_PROXIES.
    "incidents.audit.actors.AuditMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'watchstander.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # select_for_update() is a no-op on SQLite; IMMEDIATE transactions take the write lock at
    # BEGIN instead, which serialises every state change just as the row locks do on PostgreSQL.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so the end-to-end tests' worker and web processes share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request otherwise
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Redis and RQ ---------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {
    # Listed in priority order for workers: escalation steps before deliveries.
    "escalation": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 60},
    "notifications": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 120},
}
RQ = {"WORKER_CLASS": "config.rqworker.WatchstanderWorker"}
# How often each worker cleans RQ's registries, restarts a dead scheduler and wakes the
# reconciler. RQ's default is 600 s, which leaves a crashed scheduler's jobs stuck for 13 min.
RQ_MAINTENANCE_INTERVAL_SECONDS = env_int("RQ_MAINTENANCE_INTERVAL_SECONDS", 15)
RQ_SHOW_ADMIN_LINK = True

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.filebased.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Watchstander <watchstander@localhost>")

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "incidents.api.errors.exception_handler",
    # OPTIONS is answered 405: the OpenAPI schema (/api/v1/schema/) describes the API.
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}

# --- Watchstander ---------------------------------------------------------------------------
# Largest request body the intake accepts (PagerDuty's documented limit is 512 KB per event;
# native webhooks such as an Alertmanager group can be larger).
INTAKE_MAX_BODY_BYTES = env_int("INTAKE_MAX_BODY_BYTES", 1024 * 1024)
# How late a scheduled step may be before the reconciler re-enqueues it.
RECONCILE_GRACE_SECONDS = env_int("RECONCILE_GRACE_SECONDS", 10)
RECONCILE_INTERVAL_SECONDS = env_int("RECONCILE_INTERVAL_SECONDS", 30)
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 6)
# People who turn shift reminders on are told this long before their on-call shift starts.
SHIFT_NOTICE_LEAD_MINUTES = env_int("SHIFT_NOTICE_LEAD_MINUTES", 15)

# --- django-auditlog ------------------------------------------------------------------------
AUDITLOG_STORE_JSON_CHANGES = True
AUDITLOG_LOGENTRY_MODEL = "incidents.AuditEntry"
# Addresses of reverse proxies whose X-Forwarded-For is believed (for the audit trail's
# client address). Anyone else's X-Forwarded-For is ignored: clients can send any value.
AUDIT_TRUSTED_PROXIES = env_list("AUDIT_TRUSTED_PROXIES", [])
# Entries are sealed into the hash chain once they are this old, so that a transaction still
# open when a later entry was sealed is picked up by the next pass rather than skipped.
AUDIT_SEAL_SETTLE_SECONDS = env_int("AUDIT_SEAL_SETTLE_SECONDS", 2)
# How far back each sealing pass looks for such late commits below the newest sealed id
# (`seal_audit_log --full` searches everything).
AUDIT_SEAL_LOOKBACK_SECONDS = env_int("AUDIT_SEAL_LOOKBACK_SECONDS", 3600)
# Audit entries older than this many days may be pruned by `prune_audit_log`; 0 keeps them
# forever.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 0)

# --- Production hardening (on whenever DEBUG is off) ----------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Joining the browsers' preload list is the operator's commitment for the whole
        # domain, not a default a self-hosted tool should make; opt in with the variable.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
