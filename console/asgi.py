"""ASGI entry point: HTTP through Django (static files too), websockets through Channels (only from the
console's own origin; signed in by the session, or by an access key in ``Authorization: Bearer`` for scripts)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
django_asgi = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from accounts.authentication import AccessKeyWebsocketMiddleware  # noqa: E402
from console.consumers import LiveConsumer, TerminalConsumer  # noqa: E402
from console.middleware import WebsocketOriginMiddleware  # noqa: E402
from console.static import StaticFiles  # noqa: E402

http_app = StaticFiles(django_asgi) if settings.BERTH_SERVE_STATIC else django_asgi

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": WebsocketOriginMiddleware(
            AuthMiddlewareStack(
                AccessKeyWebsocketMiddleware(
                    URLRouter(
                        [
                            path("ws/live/", LiveConsumer.as_asgi()),
                            path("ws/terminal/<int:app>/<str:container>/", TerminalConsumer.as_asgi()),
                        ]
                    )
                )
            )
        ),
    }
)
