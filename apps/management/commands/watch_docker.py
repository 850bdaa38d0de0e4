"""``manage.py watch_docker``: follow every node's Docker events (run by the Procfile)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from apps.watcher import watch_forever


class Command(BaseCommand):
    help = "Follow the Docker events of every node and keep container status live."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write("watching Docker events of every node")
        watch_forever(stop)
