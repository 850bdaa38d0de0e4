"""Static files served by the ASGI server itself (``BERTH_SERVE_STATIC``): Django's handler, except that a
path that tries to leave the static directories (``/static/vendor/../../var/secret_key``) is a plain 404,
not a server error."""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousOperation
from django.http import Http404


class StaticFiles(ASGIStaticFilesHandler):
    """Serve ``/static/``; anything suspicious about the path answers 404 like a missing file."""

    def serve(self, request: Any) -> Any:
        try:
            return super().serve(request)
        except SuspiciousOperation as exc:
            raise Http404("Not found.") from exc
