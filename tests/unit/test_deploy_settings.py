"""An install behind TLS has one switch (issue 10, "Production settings"): with ``BERTH_HTTPS=true``,
``manage.py check --deploy`` finds nothing to warn about, in the production settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python <args>`` in the project with the production settings and only the given Berth switches."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BERTH_HTTPS", "BERTH_BEHIND", "DJANGO_"))}
    clean.update(DJANGO_SETTINGS_MODULE="console.settings", **env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


def test_deploy_check_passes_with_the_https_switch() -> None:
    done = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", BERTH_HTTPS="true")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_https_switch_sets_redirect_secure_cookies_and_hsts() -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_PROXY_SSL_HEADER)"
    )
    on = run("-c", code, BERTH_HTTPS="true", BERTH_BEHIND_PROXY="true")
    assert on.stdout.split() == ["True", "True", "True", "31536000", "('HTTP_X_FORWARDED_PROTO',", "'https')"]
    off = run("-c", code)
    assert off.stdout.split() == ["False", "False", "False", "0", "None"]
