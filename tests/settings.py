"""Test settings: console.settings with a test queue, channel prefix and Redis database of their own.

The database follows DATABASE_URL as in production: on SQLite the test database is the file
BERTH_TEST_DATABASE (console/settings.py), on PostgreSQL Django's ``test_<name>`` of the URL's database.
Subprocesses (Celery worker, watcher, ASGI server) run with these settings too and reach the
test database through DATABASE_URL (see tests/harness.py: test_database_url).
"""

import os

os.environ.setdefault("BERTH_CELERY_QUEUE", "berth-test")
os.environ.setdefault("BERTH_CHANNEL_PREFIX", "berth-test")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
os.environ.setdefault("BERTH_STOP_TIMEOUT", "3")
os.environ.setdefault("BERTH_INSTANCE", "berth-test")
os.environ.setdefault("BERTH_METRICS_TOKEN", "berth-test-scrape-token")
os.environ.setdefault("BERTH_PROMETHEUS_URL", "http://127.0.0.1:59090")  # tests/conftest.py: prometheus
# This machine's engine is shared with a running console (`make up`) and an engine is in one swarm only: clusters are
# in bridge mode unless a test of the cluster network says overlay (and those use nodes in network namespaces).
os.environ.setdefault("BERTH_NETWORK_MODE", "bridge")
os.environ.setdefault("BERTH_HEALTH_INTERVAL", "1")
os.environ.setdefault("BERTH_HEALTH_TIMEOUT", "3")
os.environ.setdefault("BERTH_HEALTH_FAILURES", "2")

from console.settings import *  # noqa: E402,F403

if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":  # noqa: F405
    # Named after the URL's database (test_berth for …/berth), so runs on different databases never meet; the
    # harness hands this name to the subprocesses (they read it as their DATABASE_URL's database).
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", f"test_{DATABASES['default']['NAME']}")  # noqa: F405
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
        DATABASES["default"]["ENGINE"] = "tests.pgbackend"  # noqa: F405  (its flush survives a deadlock)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING["root"]["level"] = os.environ.get("BERTH_LOG_LEVEL", "WARNING")  # noqa: F405


class InvalidTemplateVariable(str):
    """A template variable that does not resolve is an error in tests (in production it renders as "")."""

    def __mod__(self, name: object) -> str:
        from django.template import TemplateSyntaxError

        raise TemplateSyntaxError(f"template variable {name} does not exist")


TEMPLATES[0]["OPTIONS"]["string_if_invalid"] = InvalidTemplateVariable("%s")  # noqa: F405
