"""The server log stays readable: routine periodic tasks and refusals do not flood it."""

from __future__ import annotations

import logging

from console.celery import RoutineTasksFilter


def test_routine_task_info_lines_are_dropped_but_their_failures_kept() -> None:
    routine = RoutineTasksFilter()

    def record(level: int, message: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("celery.app.trace", level, __file__, 1, message, args, None)

    assert not routine.filter(record(logging.INFO, "Task %s[%s] received", "clusters.check_nodes", "1"))
    assert not routine.filter(record(logging.INFO, "Scheduler: Sending due task check-nodes (clusters.check_nodes)"))
    assert routine.filter(record(logging.INFO, "Task %s[%s] received", "apps.run_release", "2"))
    assert routine.filter(record(logging.ERROR, "Task %s[%s] raised", "clusters.check_nodes", "3"))


def test_a_refused_page_is_no_traceback_in_the_server_log(owner: object, caplog: object) -> None:
    from django.test import Client

    from accounts import operations as ram
    from accounts.models import User
    from tests.conftest import PASSWORD

    ram.create_subaccount(owner, name="nobody", password=PASSWORD)
    client = Client()
    client.force_login(User.objects.get(name="nobody"))
    with caplog.at_level(logging.DEBUG):
        assert client.get("/clusters/new/").status_code == 403
    assert not [r for r in caplog.records if r.name == "django.request"]
