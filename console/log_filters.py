"""The operation log's filters, read the same way by the page (/operation-logs/) and the API
(/api/v1/operation-logs).

Every value a caller types is read here, once: :func:`parse_moment` is the one reader of a typed date and time
(an impossible one — February 30, hour 25, an offset of +99:00 — is "not a date and time", never an error), and
:func:`problems` names each filter whose value cannot be applied, with the reason. The page shows those reasons
and leaves the filters out; the API refuses the request with 400, one message per bad parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from console.context import SOURCES
from console.models import OperationLog

FILTERS = ("since", "until", "actor", "action", "resource", "outcome", "q")
TIME_FILTERS = {"since": "created_at__gte", "until": "created_at__lte"}
"""Filter → the lookup of the entry's time that it bounds."""
LABELS = {"since": _lazy("From"), "until": _lazy("To"), "outcome": _lazy("Outcome"), "export": _lazy("Export")}
"""What the page calls each filter it may have to say is not applied."""
EXPORT_FORMATS = ("csv", "json")
MAX_TYPED = 200
"""Characters of a typed filter that are read (a longer value is cut)."""


def typed(params: Any, name: str) -> str:
    """What the caller typed for the filter ``name`` (trimmed, at most ``MAX_TYPED`` characters)."""
    return str(params.get(name, "")).strip()[:MAX_TYPED]


def parse_moment(text: str) -> datetime | None:
    """``text`` as an aware date and time in UTC (ISO 8601, the ``T`` optional, a date alone its midnight; without an
    offset, in the console's time zone), or None when it is not one.

    This is the one reader of a date and time a user typed: Django's ``parse_datetime`` answers None to text of the
    wrong shape but raises ``ValueError`` for a well-shaped impossible one (``2026-02-30 10:00``, hour 25, minute
    61, an offset of +99:00), and a moment at the edge of the calendar overflows when moved to UTC. All of them are
    "not a date and time" here.
    """
    try:
        moment = parse_datetime(text)
        if moment is None:
            return None
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def problems(params: Any) -> dict[str, str]:
    """Each filter in ``params`` whose value cannot be applied (a time that is not one, an outcome or source not in
    the list, an export format Berth does not write), with the reason: one message per bad parameter."""
    found: dict[str, str] = {}
    for name in TIME_FILTERS:
        value = typed(params, name)
        if value and parse_moment(value) is None:
            found[name] = _("“%(value)s” is not a date and time (for example 2025-01-31 14:00)") % {"value": value}
    choices = {"outcome": OperationLog.Outcome.values, "source": SOURCES, "export": EXPORT_FORMATS}
    for name, allowed in choices.items():
        value = typed(params, name)
        if value and value not in allowed:
            found[name] = _("“%(value)s” is not one of %(allowed)s") % {"value": value, "allowed": ", ".join(allowed)}
    return found


def export_links(applied: dict[str, str]) -> dict[str, str]:
    """The page's export links, one per format: the filters that were applied (``filter_entries``' answer) and
    nothing else, so what is downloaded is what the page shows — a filter the page left out (:func:`problems`) is
    not carried into the download, where it would be left out again without a word."""
    filters = {name: value for name, value in applied.items() if value}
    return {fmt: "?" + urlencode({**filters, "export": fmt}) for fmt in EXPORT_FORMATS}


def filter_entries(entries: QuerySet[OperationLog], params: Any) -> tuple[QuerySet[OperationLog], dict[str, str]]:
    """Apply the operation-log filters (time range, actor, action, resource, outcome, free text); a filter whose
    value cannot be applied (:func:`problems`) is left out. Returns the entries and the filters applied."""
    bad = problems(params)
    values = {name: "" if name in bad else typed(params, name) for name in FILTERS}
    for name, lookup in TIME_FILTERS.items():
        if values[name]:
            entries = entries.filter(**{lookup: parse_moment(values[name])})
    if values["actor"]:
        entries = entries.filter(actor_name__icontains=values["actor"])
    if values["action"]:
        entries = entries.filter(action__icontains=values["action"])
    if values["resource"]:
        entries = entries.filter(resource__icontains=values["resource"])
    if values["outcome"]:
        entries = entries.filter(outcome=values["outcome"])
    if values["q"]:
        text = values["q"]
        entries = entries.filter(
            Q(target__icontains=text)
            | Q(resource__icontains=text)
            | Q(actor_name__icontains=text)
            | Q(error__icontains=text)
            | Q(request_id=text)
            | Q(source_ip=text)
            | Q(action__icontains=text)
        )
    return entries, values
