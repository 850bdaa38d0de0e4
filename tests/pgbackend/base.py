"""PostgreSQL as in production, with a test flush that survives the stack's own queries.

Between tests of the real stack, Django empties every table in one TRUNCATE while the stack's processes (Celery
worker, events watcher, ASGI server) may still read: a reader that locked one table and waits for another while
the TRUNCATE holds the second and waits for the first is a deadlock, and PostgreSQL may pick the flush as the one
to end. The flush then left rows behind for the next test. Here a flush ended by a deadlock runs again (the
reader it met has finished by then); any other failure is raised as before.
"""

from __future__ import annotations

import time

from django.db import OperationalError
from django.db.backends.postgresql import base, operations

ATTEMPTS = 5


class DatabaseOperations(operations.DatabaseOperations):
    def execute_sql_flush(self, sql_list: list[str]) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                super().execute_sql_flush(sql_list)
                return
            except OperationalError as error:
                if attempt == ATTEMPTS or getattr(error.__cause__, "sqlstate", None) != "40P01":  # deadlock_detected
                    raise
                time.sleep(0.1 * attempt)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
