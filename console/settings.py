"""Berth settings: one module, every value from the environment (see README "Settings")."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from console.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("BERTH_DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    # A stable per-installation key kept in the data directory, so a fresh clone just works.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        import secrets

        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_FAILURE_VIEW = "console.middleware.csrf_failure"
CSRF_TRUSTED_ORIGINS = env_list(
    "BERTH_CSRF_TRUSTED_ORIGINS", [f"http://{h}:{p}" for h in ("127.0.0.1", "localhost") for p in (8000,)]
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "channels",
    "console",
    "accounts",
    "clusters",
    "apps",
    "routing",
    "releases",
    "observability",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "console.middleware.NulCharacterMiddleware",
    "console.middleware.RequestContextMiddleware",
    "console.middleware.MethodNotAllowedPageMiddleware",
    "console.middleware.ApiErrorShapeMiddleware",
    "console.middleware.FirstRunMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.root_urls"
ASGI_APPLICATION = "console.asgi.application"
WSGI_APPLICATION = "console.wsgi.application"

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
                "django.template.context_processors.i18n",
                "console.context_processors.live_labels",
            ],
        },
    },
]

_default_db = f"sqlite:///{DATA_DIR / 'berth.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", _default_db), conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (ASGI server, Celery worker, watcher) share the file: WAL and immediate
    # transactions avoid "database is locked" under concurrent writers.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": env_str("BERTH_TEST_DATABASE", str(DATA_DIR / "test.sqlite3"))}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.TenantLoginBackend",
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_RAISE_403 = False
GUARDIAN_MONKEY_PATCH_USER = False
GUARDIAN_MONKEY_PATCH_GROUP = False

# Sign-in throttling (django-axes): a login and address pair is locked after repeated failures.
AXES_ENABLED = env_bool("BERTH_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = env_int("BERTH_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("BERTH_LOGIN_COOLOFF_HOURS", 0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "login"
AXES_USERNAME_CALLABLE = "accounts.backends.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked.html"
AXES_VERBOSE = False
OTP_TOTP_ISSUER = "Berth"
ANONYMOUS_USER_NAME = None
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "console:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
TIME_ZONE = env_str("BERTH_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor", BASE_DIR / "node_modules")]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 defaults socket_timeout to 5 s; channels-redis blocks in BZPOPMIN for up to 5 s, so every
        # idle socket's consumer died with "Timeout reading from …". Reads wait as long as the command says;
        # connecting still gives up after 5 s and health checks find dead connections.
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_timeout": None,
                    "socket_connect_timeout": 5,
                    "socket_keepalive": True,
                    "health_check_interval": 15,
                    "retry_on_timeout": True,
                }
            ],
            "prefix": env_str("BERTH_CHANNEL_PREFIX", "berth"),
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_DEFAULT_QUEUE = env_str("BERTH_CELERY_QUEUE", "berth")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("BERTH_VISIBILITY_TIMEOUT", 3600),
    # Explicit, whatever redis-py's defaults are (its version 8 made reads time out after 5 s).
    "socket_timeout": None,
    "socket_connect_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 15,
}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = {
    "reap-releases": {"task": "apps.reap_releases", "schedule": env_float("BERTH_REAPER_INTERVAL", 30.0)},
    "reap-node-tasks": {"task": "clusters.reap_node_tasks", "schedule": env_float("BERTH_REAPER_INTERVAL", 30.0)},
    "sync-routers": {"task": "routing.sync_all", "schedule": env_float("BERTH_ROUTING_INTERVAL", 30.0)},
    "check-nodes": {
        "task": "clusters.check_nodes",
        "schedule": env_float("BERTH_HEALTH_INTERVAL", 2.0),
        "options": {"expires": 10},
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.AccessKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # A JSON API: bodies are JSON objects (console.api.RequestBody); forms and multipart are 415. The console's
    # pages post to their own URLs; only the attach script's two calls send a form (clusters.api.AttachBase).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "console.api.AutoSchema",
    # Every list is paginated (console.api.ListEndpoint, console.paging): ?limit= (50, at most 500) and ?offset=.
    "DEFAULT_PAGINATION_CLASS": "console.paging.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "console.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Berth API",
    "DESCRIPTION": "Clusters, applications, releases and the operation log of a Berth tenant.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": f"/{STATIC_URL}vendor/swagger-ui-dist",
    "SWAGGER_UI_FAVICON_HREF": f"/{STATIC_URL}vendor/swagger-ui-dist/favicon-32x32.png",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every routed method of every endpoint (the application and container actions share one view each).
    "DEFAULT_GENERATOR_CLASS": "console.api.SchemaGenerator",
    # Two choice sets have fields named "status": each gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "ApplicationStatusEnum": "apps.models.Application.Status",
        "WorkStatusEnum": "console.work.WorkStatus",
    },
}

# --- HTTPS: an installation behind TLS (README "Settings"; `manage.py check --deploy` passes with it on) ---------
# BERTH_HTTPS=true: browsers reach the console over HTTPS only. Plain HTTP is redirected (except /healthz, for
# probes on the inside), cookies are sent over HTTPS only, and browsers are told to use HTTPS for this host for
# BERTH_HSTS_SECONDS (HSTS; once sent, a browser refuses plain HTTP to the host until it expires).
BERTH_HTTPS = env_bool("BERTH_HTTPS", False)
# BERTH_BEHIND_PROXY=true: TLS ends at a reverse proxy on the way, which sets X-Forwarded-Proto (and strips it
# from what clients send); only then does Django take that header as the request's scheme.
BERTH_BEHIND_PROXY = env_bool("BERTH_BEHIND_PROXY", False)
if BERTH_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if BERTH_HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("BERTH_HSTS_SECONDS", 31_536_000)
    # Other hosts of the domain and the browsers' preload list are the operator's decision, not Berth's: off
    # unless asked for, and their deploy checks (W005, W021) are silenced as that decision.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("BERTH_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("BERTH_HSTS_PRELOAD", False)
    SILENCED_SYSTEM_CHECKS = [
        *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    ]

# Berth's own knobs.
BERTH_DOCKER_TIMEOUT = env_float("BERTH_DOCKER_TIMEOUT", 30.0)
BERTH_PULL_STALL_TIMEOUT = env_float("BERTH_PULL_STALL_TIMEOUT", 120.0)  # a pull with no news this long is given up
# Encrypts TLS keys and other secrets at rest; changing it makes stored keys unreadable.
BERTH_ENCRYPTION_KEY = env_str("BERTH_ENCRYPTION_KEY", SECRET_KEY)
BERTH_HEALTH_INTERVAL = env_float("BERTH_HEALTH_INTERVAL", 2.0)
BERTH_HEALTH_TIMEOUT = env_float("BERTH_HEALTH_TIMEOUT", 2.0)
BERTH_HEALTH_FAILURES = env_int("BERTH_HEALTH_FAILURES", 2)
BERTH_ATTACH_TOKEN_MINUTES = env_int("BERTH_ATTACH_TOKEN_MINUTES", 60)
BERTH_PUBLIC_URL = env_str("BERTH_PUBLIC_URL", "http://127.0.0.1:8000")
BERTH_LOCAL_PROVIDER_IMAGES = env_list("BERTH_LOCAL_PROVIDER_IMAGES", ["local/busybox:1"])
BERTH_LOCAL_DOCKER_URL = env_str("BERTH_LOCAL_DOCKER_URL", "unix:///var/run/docker.sock")
BERTH_LOCAL_PUBLISH_IP = env_str("BERTH_LOCAL_PUBLISH_IP", "127.0.0.1")
# Host calls of one release at once per node (Compose v2 creates and starts a whole project at once; bench/README).
BERTH_WORKERS_PER_RELEASE = env_int("BERTH_WORKERS_PER_RELEASE", 16)
# Host ports Berth pins for container ports published without one ("LOW-HIGH"; Docker's own range by default).
BERTH_HOST_PORTS = tuple(int(p) for p in env_str("BERTH_HOST_PORTS", "32768-60999").split("-", 1))
BERTH_STOP_TIMEOUT = env_int("BERTH_STOP_TIMEOUT", 10)
# Seconds a rolling release waits for a new container to be running, healthy and in the routers' rotation.
BERTH_ROLLING_READY_TIMEOUT = env_int("BERTH_ROLLING_READY_TIMEOUT", 120)
BERTH_REAPER_TIMEOUT = env_float("BERTH_REAPER_TIMEOUT", 120.0)
BERTH_RELEASE_MAX_ATTEMPTS = env_int("BERTH_RELEASE_MAX_ATTEMPTS", 2)
# Pending long work no worker claimed this long is sent to the broker again by the reapers (its message was lost).
BERTH_PENDING_RESEND_SECONDS = env_float("BERTH_PENDING_RESEND_SECONDS", 30.0)
BERTH_REGION = env_str("BERTH_REGION", "local")
# The cluster network (clusters/network.py): the default address pool of a new cluster's overlay networks (each
# takes a /24), and the address this machine's engine advertises to the other nodes when it is a node (empty: the
# source address of this machine's default route).
BERTH_NETWORK_POOL = env_str("BERTH_NETWORK_POOL", "10.201.0.0/16")
# A new cluster's network mode: "overlay" (the cluster network, a swarm Berth keeps among the nodes) or "bridge" (a
# network per application per node; nothing changes on the engines beyond it). The test settings say "bridge": the
# tests share this machine's engine with a running console, and an engine can be in one swarm only.
BERTH_NETWORK_MODE = env_str("BERTH_NETWORK_MODE", "overlay")
BERTH_LOCAL_NODE_ADDRESS = env_str("BERTH_LOCAL_NODE_ADDRESS", "")
# Labels every container and network this installation makes; two installations sharing an engine
# (a test run beside a running console) never touch each other's.
BERTH_INSTANCE = env_str("BERTH_INSTANCE", "berth")
BERTH_SERVE_STATIC = env_bool("BERTH_SERVE_STATIC", True)
# Days the engines' events of Berth's containers are kept (observability.events.prune, hourly).
BERTH_EVENTS_RETENTION_DAYS = env_float("BERTH_EVENTS_RETENTION_DAYS", 7.0)
# What a tenant keeps of its containers' output unless it sets otherwise (observability.logs): days and megabytes.
BERTH_LOG_RETENTION_DAYS = env_int("BERTH_LOG_RETENTION_DAYS", 7)
BERTH_LOG_RETENTION_MB = env_int("BERTH_LOG_RETENTION_MB", 1024)
# Metrics (observability.metrics): the Prometheus the charts ask, and the operator's token for scraping /metrics
# (empty: the one scripts/prometheus.sh wrote to the data directory, else only access keys scrape).
BERTH_PROMETHEUS_URL = env_str("BERTH_PROMETHEUS_URL", "http://127.0.0.1:9090")
BERTH_METRICS_TOKEN = env_str("BERTH_METRICS_TOKEN", "")
# Container auto scaling (observability.autoscale): how often services are judged, the samples (count and seconds
# each) their averages are made of, and the least time between two automatic scalings of a service.
BERTH_AUTOSCALE_INTERVAL = env_float("BERTH_AUTOSCALE_INTERVAL", 60.0)
BERTH_AUTOSCALE_SAMPLES = env_int("BERTH_AUTOSCALE_SAMPLES", 3)
BERTH_AUTOSCALE_WINDOW = env_int("BERTH_AUTOSCALE_WINDOW", 60)
BERTH_AUTOSCALE_COOLDOWN = env_float("BERTH_AUTOSCALE_COOLDOWN", 180.0)
# Seconds a web terminal may stay without input or output before it is closed (observability.terminal).
BERTH_TERMINAL_IDLE_SECONDS = env_float("BERTH_TERMINAL_IDLE_SECONDS", 600.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("BERTH_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # 403s and 404s are answers, not faults (refusals are in the operation log); 500s still log with traceback.
        "django.request": {"level": "ERROR"},
    },
}

# --- Nodes, this machine and certificates (security issue 9: clusters) --------------------------------
# Networks (CIDRs) where tenants' node endpoints may be although they are this machine's own addresses,
# loopback, link-local, multicast or reserved: an operator's exception (e.g. "127.0.0.0/8" on a lab box).
BERTH_NODE_NETWORKS_ALLOW = env_list("BERTH_NODE_NETWORKS_ALLOW", [])
# Cloud metadata services (addresses or CIDRs) no node endpoint or attach address may be, even in an allowed network.
BERTH_METADATA_ADDRESSES = env_list("BERTH_METADATA_ADDRESSES", ["169.254.169.254", "100.100.100.200", "fd00:ec2::254"])
# Lifetime of a client certificate a user downloads for a cluster's engines (hours, 1-24).
BERTH_USER_CERT_HOURS = max(1, min(24, env_int("BERTH_USER_CERT_HOURS", 8)))
# How many times the attach script may call register for its address before the token is used up.
BERTH_ATTACH_MAX_ATTEMPTS = env_int("BERTH_ATTACH_MAX_ATTEMPTS", 3)
# Certificates whose holder may no longer issue them (user deleted, disabled, grant gone) are recorded as revoked.
CELERY_BEAT_SCHEDULE["prune-events"] = {
    "task": "observability.prune_events",
    "schedule": env_float("BERTH_EVENTS_PRUNE_INTERVAL", 3600.0),
    "options": {"expires": 600},
}
CELERY_BEAT_SCHEDULE["autoscale"] = {
    "task": "observability.autoscale",
    "schedule": BERTH_AUTOSCALE_INTERVAL,
    "options": {"expires": 60},
}
CELERY_BEAT_SCHEDULE["prune-logs"] = {
    "task": "observability.prune_logs",
    "schedule": env_float("BERTH_LOGS_PRUNE_INTERVAL", 600.0),
    "options": {"expires": 300},
}
CELERY_BEAT_SCHEDULE["sweep-user-certificates"] = {
    "task": "clusters.sweep_certificates",
    "schedule": env_float("BERTH_CERT_SWEEP_INTERVAL", 60.0),
    "options": {"expires": 60},
}
