"""The log search's regular expressions run in linear time on SQLite (RE2), and shapes that explode in a
backtracking engine are refused (observability.logs)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import User
from apps.models import Application
from clusters.models import Cluster
from observability import logs
from observability.models import LogLine

pytestmark = pytest.mark.django_db


def test_a_pattern_that_is_polynomial_in_python_runs_linear_and_finds_what_it_should(owner: User) -> None:
    cluster = Cluster.objects.create(tenant=owner.tenant, name="c")
    app = Application.objects.create(tenant=owner.tenant, cluster=cluster, name="a")
    long = "a" * 20_000  # Python's re takes minutes for .*.*.*x on 1,500 characters; RE2 does not backtrack
    LogLine.objects.bulk_create(
        LogLine(
            cluster=cluster,
            application=app,
            node_name="n",
            service="s",
            container="c",
            stream="stdout",
            ts_ns=i,
            at=timezone.now(),
            text=long + ("x" if i == 7 else ""),
        )
        for i in range(20)
    )
    found = logs.filtered(LogLine.objects.filter(application=app), {"regex": ".*.*.*x"})
    assert [line.ts_ns for line in found] == [7]


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|a)+$", "(x*)*y", "(a)\\1", "(?=a)", "(?P<n>a)", "[", "a" * 201])
def test_patterns_that_could_run_away_or_that_a_database_refuses_are_refused(pattern: str) -> None:
    with pytest.raises(logs.Refused):
        logs.check_pattern(pattern)


def test_ordinary_patterns_pass() -> None:
    for pattern in ("^line-(12|34)$", "error|warning", "t=1[0-9] n=99 ", "\\d+ms$", "(ab)+c"):
        assert logs.check_pattern(pattern) == pattern
