"""The Berth Django project: settings, URLs, ASGI, Celery, audit and live status."""

from console.celery import app as celery_app

__all__ = ["celery_app"]
