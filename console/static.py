"""Static files served by the ASGI server itself (``BERTH_SERVE_STATIC``): Django's handler, except that a miss —
a file that is not there, a directory, or a path that tries to leave the static directories
(``/static/vendor/../../var/secret_key``) — is a plain short 404 (``text/plain``), never a server error nor the
console's page layout (static misses are asked for by the browser, not shown to the user, and run no middleware:
the layout would offer "Sign in" to someone signed in)."""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponseNotFound


class StaticFiles(ASGIStaticFilesHandler):
    """Serve ``/static/``; a miss, or anything suspicious about the path, answers a plain 404."""

    def serve(self, request: Any) -> Any:
        try:
            return super().serve(request)
        except (Http404, SuspiciousOperation):
            return HttpResponseNotFound("Not found.\n", content_type="text/plain; charset=utf-8")
