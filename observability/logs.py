"""Log collection, search and retention: every line the containers Berth runs write, kept in the database.

The collector runs in the watcher process (``apps.watcher.NODE_COMPANIONS``): per node, one thread lists the node's
running Berth containers every few seconds and follows each one's output with one stream of its own
(``docker_host.log_stream``, with timestamps). Lines are written in batches by one writer thread, with each
container's cursor (``LogCursor``: the last timestamp kept and how many lines of it) in the same transaction, so a
stream that broke (a node that went away, the watcher restarted) starts again from the cursor with ``since``: no
line is lost and none is kept twice. Each batch is published to whoever tails the application (the "logs" live
group). A cluster whose logging service is off (``system_services["logging"] is False``) is not collected.

Alibaba's ``aliyun.logs.<name>: stdout`` names the stream a service's output is kept under.
"""

from __future__ import annotations

import functools
import logging
import queue
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import re2
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Lookup, QuerySet, Sum
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions
from apps.models import Application
from clusters import docker_host as host
from clusters.models import Cluster, Node
from console import audit, live
from observability import filters
from observability.models import LogCursor, LogLine, LogRetention

log = logging.getLogger(__name__)

MAX_LINE = 16 * 1024
"""Characters of a line that are kept (the rest is cut, marked with "…")."""
LIST_SECONDS = 2.0
"""How often a node's collector lists its running containers (a container started since is followed then)."""
FLUSH_SECONDS = 0.2
BATCH = 2000
WRITE_ATTEMPTS = 5
LABEL_PREFIX = "aliyun.logs."


# --- lines as the engine writes them (pure) ------------------------------------------------------------------


def parse_line(raw: bytes) -> tuple[int, str] | None:
    """``2026-12-02T10:00:00.123456789Z text`` → (nanoseconds since 1970, text); None when it has no timestamp."""
    stamp, _sep, rest = raw.partition(b" ")
    nanos = to_nanos(stamp.decode("ascii", errors="replace"))
    if nanos is None:
        return None
    text = rest.decode("utf-8", errors="replace").rstrip("\r")
    if len(text) > MAX_LINE:
        text = text[:MAX_LINE] + "…"
    return nanos, text.replace("\x00", "")


_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def to_nanos(stamp: str) -> int | None:
    """An RFC 3339 time with up to nine decimals (Docker trims trailing zeros) as nanoseconds since 1970."""
    found = _STAMP.match(stamp)
    if found is None:
        return None
    whole, fraction, zone = found.groups()
    moment = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    return int(moment.timestamp()) * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


def since_of(nanos: int) -> str:
    """The ``since`` the engine takes for a moment: ``seconds.nanoseconds``."""
    return f"{nanos // 1_000_000_000}.{nanos % 1_000_000_000:09d}"


def moment_of(nanos: int) -> datetime:
    return datetime.fromtimestamp(nanos // 1_000_000_000, tz=UTC) + timedelta(
        microseconds=(nanos % 1_000_000_000) // 1000
    )


def stream_names(labels: dict[str, str]) -> dict[str, str]:
    """What an ``aliyun.logs.<name>: stdout`` label names the container's output (stdout and stderr alike)."""
    for key, value in sorted(labels.items()):
        if key.startswith(LABEL_PREFIX) and value.strip() == "stdout":
            name = key[len(LABEL_PREFIX) :][:64]
            if name:
                return {"stdout": name, "stderr": name}
    return {}


class Skipper:
    """Drops what the engine sends again after a reconnect: lines older than the cursor, and as many lines of the
    cursor's own timestamp as were kept."""

    def __init__(self, ts_ns: int, at_last: int) -> None:
        self.ts_ns, self.left = ts_ns, at_last

    def keep(self, nanos: int) -> bool:
        if nanos < self.ts_ns:
            return False
        if nanos == self.ts_ns and self.left > 0:
            self.left -= 1
            return False
        return True


# --- the writer: batches, cursors, live --------------------------------------------------------------------------


@dataclass
class Source:
    """A container whose output is followed: where its lines belong."""

    docker_id: str
    node_id: int
    node_name: str
    cluster_id: int
    application_id: int
    service: str
    container: str
    streams: dict[str, str]
    cursor: str = ""  # the cursor's key: the container's id, or a file's inside it (``file_cursor``)
    counting: bool = False  # a file's cursor counts the lines read (they carry no engine timestamp)

    @property
    def key(self) -> str:
        return self.cursor or self.docker_id


class Writer:
    """One thread that writes what every follower read, in batches, with the followers' cursors."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[Source, int, str, str]] = queue.Queue(maxsize=20_000)  # ≤ 320 MB of lines
        self.written = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self.run, name="log-writer", daemon=True)
                self._thread.start()

    def put(self, source: Source, nanos: int, stream: str, text: str) -> None:
        self.queue.put((source, nanos, stream, text))

    def run(self) -> None:
        while True:
            batch = [self.queue.get()]
            deadline = time.monotonic() + FLUSH_SECONDS
            while len(batch) < BATCH:
                try:
                    batch.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    close_old_connections()
                    self.write(batch)
                    break
                except Exception:  # a busy database, an application deleted meanwhile: the next try filters it
                    if attempt == WRITE_ATTEMPTS - 1:
                        log.exception("logs: a batch of %s lines could not be written; it is dropped", len(batch))
                    else:
                        time.sleep(0.5 * (attempt + 1))

    def write(self, batch: list[tuple[Source, int, str, str]]) -> None:
        rows = [
            LogLine(
                cluster_id=source.cluster_id,
                application_id=source.application_id,
                node_name=source.node_name,
                service=source.service,
                container=source.container,
                stream=source.streams.get(stream, stream),
                ts_ns=nanos,
                at=moment_of(nanos),
                text=text,
            )
            for source, nanos, stream, text in batch
        ]
        cursors: dict[str, tuple[Source, int, int]] = {}
        for source, nanos, _stream, _text in batch:
            _old, last, count = cursors.get(source.key, (source, 0, 0))
            if nanos < last and not source.counting:
                continue  # stdout and stderr may interleave out of order: the cursor keeps the latest moment
            cursors[source.key] = (source, nanos, count + 1 if nanos == last or source.counting else 1)
        apps = set(
            Application.objects.filter(pk__in={s.application_id for s, *_ in batch}).values_list("pk", flat=True)
        )
        nodes = set(Node.objects.filter(pk__in={s.node_id for s, *_ in batch}).values_list("pk", flat=True))
        rows = [row for row, (source, *_rest) in zip(rows, batch, strict=True) if source.application_id in apps]
        cursors = {d: c for d, c in cursors.items() if c[0].node_id in nodes}  # a node removed takes its cursors
        with transaction.atomic():
            made = LogLine.objects.bulk_create(rows, batch_size=500)
            for docker_id, (source, nanos, count) in cursors.items():
                cursor, _created = LogCursor.objects.get_or_create(
                    docker_id=docker_id, defaults={"node_id": source.node_id}
                )
                at_last = cursor.at_last + count if cursor.ts_ns == nanos or source.counting else count
                LogCursor.objects.filter(pk=cursor.pk).update(ts_ns=nanos, at_last=at_last)
            by_app: dict[int, list[dict[str, Any]]] = {}
            for row in made:
                by_app.setdefault(row.application_id, []).append(row.as_live())
            for app_id, lines in by_app.items():
                for start in range(0, len(lines), 500):  # every line, in messages of at most 500
                    live.publish("logs", app_id, {"type": "log_lines", "lines": lines[start : start + 500]})
        self.written += len(rows)


WRITER = Writer()


# --- the collector: one per node, one follower per container ----------------------------------------------------


def collecting(cluster_id: int) -> bool:
    """Whether the cluster's logging service is on (it is unless turned off)."""
    return Cluster.service_on(cluster_id, "logging")


class Follower(threading.Thread):
    """Follows one container's output from its cursor until the container stops or the stream breaks."""

    def __init__(self, endpoint: host.Endpoint, source: Source, tty: bool, stop: threading.Event) -> None:
        super().__init__(name=f"logs-{source.container}", daemon=True)
        self.endpoint, self.source, self.tty, self.stop = endpoint, source, tty, stop

    def run(self) -> None:
        try:
            close_old_connections()
            cursor = LogCursor.objects.filter(docker_id=self.source.docker_id).values_list("ts_ns", "at_last").first()
            ts_ns, at_last = cursor or (0, 0)
            skipper = Skipper(ts_ns, at_last)
            since = since_of(ts_ns) if ts_ns else None
            for stream, raw in host.log_stream(self.endpoint, self.source.docker_id, since, tty=self.tty):
                if self.stop.is_set():
                    return
                parsed = parse_line(raw)
                if parsed is None or not skipper.keep(parsed[0]):
                    continue
                WRITER.put(self.source, parsed[0], stream, parsed[1])
        except host.HostError as exc:
            log.info("logs: %s: the stream broke (%s); it starts again from its cursor", self.source.container, exc)
        except Exception:
            log.exception("logs: %s: the follower failed", self.source.container)
        finally:
            close_old_connections()


def file_specs(labels: dict[str, str]) -> dict[str, str]:
    """The files an ``aliyun.logs.<name>: <absolute path glob>`` label asks to collect: name → glob."""
    found = {}
    for key, value in sorted(labels.items()):
        name = key[len(LABEL_PREFIX) :] if key.startswith(LABEL_PREFIX) else ""
        if name and "." not in name and value.strip().startswith("/"):
            found[name[:64]] = value.strip()
    return found


def file_cursor(docker_id: str, path: str) -> str:
    """The cursor key of one file inside one container (at most 64 characters)."""
    import hashlib

    return f"{docker_id[:24]}:{hashlib.sha256(path.encode()).hexdigest()[:32]}"


FILE_LIST_SECONDS = 5.0
MAX_FILES = 16
"""Files one label follows at most in one container (a glob such as /*/*/* must not start a tail per file)."""
LIST_FILES = 'for f in $1; do [ -f "$f" ] && echo "$f"; done; true'  # $1 unquoted: the shell expands the glob
TAIL_FILE = 'exec tail -n "+$2" -F -- "$1" 2>/dev/null'


class FileFollower(threading.Thread):
    """Collects the files one ``aliyun.logs.<name>: <glob>`` label names inside one container: lists the glob every
    few seconds, and follows each file it finds with ``tail -F`` from the lines already kept (its cursor counts
    them). A line gets the moment it was read."""

    def __init__(self, endpoint: host.Endpoint, source: Source, name: str, glob: str, stop: threading.Event) -> None:
        super().__init__(name=f"logs-{source.container}-{name}", daemon=True)
        self.endpoint, self.source, self.name, self.glob, self.stop = endpoint, source, name, glob, stop
        self.tails: dict[str, threading.Thread] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                close_old_connections()
                listed = [
                    line.decode(errors="replace").strip()
                    for line in host.exec_lines(
                        self.endpoint, self.source.docker_id, ["sh", "-c", LIST_FILES, "sh", self.glob]
                    )
                ]
                self.tails = {path: tail for path, tail in self.tails.items() if tail.is_alive()}
                for path in [p for p in listed if p.startswith("/")][:MAX_FILES]:
                    if path not in self.tails and len(self.tails) < MAX_FILES:
                        tail = threading.Thread(target=self.follow, args=(path,), daemon=True)
                        tail.start()
                        self.tails[path] = tail
            except host.HostError as exc:  # an engine that hiccuped, a container paused: asked again later
                log.debug("logs: %s: files of %s: %s", self.source.container, self.name, exc)
            except Exception:
                log.exception("logs: %s: the file follower failed", self.source.container)
            self.stop.wait(FILE_LIST_SECONDS)

    def follow(self, path: str) -> None:
        key = file_cursor(self.source.docker_id, path)
        source = Source(**{**self.source.__dict__, "streams": {"file": self.name}, "cursor": key, "counting": True})
        try:
            close_old_connections()
            kept = LogCursor.objects.filter(docker_id=key).values_list("at_last", flat=True).first() or 0
            argv = ["sh", "-c", TAIL_FILE, "sh", path, str(kept + 1)]
            for raw in host.exec_lines(self.endpoint, self.source.docker_id, argv):
                if self.stop.is_set():
                    return
                text = raw.decode("utf-8", errors="replace").rstrip("\r").replace("\x00", "")
                WRITER.put(source, time.time_ns(), "file", text[:MAX_LINE] + ("…" if len(text) > MAX_LINE else ""))
        except host.HostError as exc:
            log.debug("logs: %s: %s: %s", self.source.container, path, exc)
        except Exception:
            log.exception("logs: %s: following %s failed", self.source.container, path)
        finally:
            close_old_connections()


class NodeLogs(threading.Thread):
    """A node's collector: follows each running Berth container of the node (``apps.watcher.NODE_COMPANIONS``)."""

    def __init__(self, node_id: int, stop: threading.Event) -> None:
        super().__init__(name=f"logs-node-{node_id}", daemon=True)
        self.node_id, self.stop = node_id, stop
        self.followers: dict[str, tuple[Follower, threading.Event]] = {}

    def run(self) -> None:
        WRITER.start()
        while not self.stop.is_set():
            try:
                close_old_connections()
                self.round()
            except host.HostError as exc:
                log.debug("logs: node %s: %s", self.node_id, exc)
            except Exception:
                log.exception("logs: node %s: the collector failed; it tries again", self.node_id)
            self.stop.wait(LIST_SECONDS)
        self.forget(set(self.followers))

    def round(self) -> None:
        node = Node.objects.filter(pk=self.node_id).only("pk", "name", "cluster_id").first()
        if node is None or not collecting(node.cluster_id):
            self.forget(set(self.followers))
            return
        endpoint = host.Endpoint.of(node, timeout=10.0)
        labels = {**host.managed(), "berth.cluster": str(node.cluster_id)}
        running = {s.id: s for s in host.list_containers(endpoint, labels, sparse=True) if s.state == "running"}
        self.forget({d for d, (f, _s) in self.followers.items() if d not in running or not f.is_alive()})
        for docker_id, state in running.items():
            if docker_id in self.followers:
                continue
            source = self.source_of(node, docker_id, state.name, state.labels)
            if source is None:
                continue
            tty = bool((host.inspect_container(endpoint, docker_id).get("Config") or {}).get("Tty"))
            stop = threading.Event()
            follower = Follower(endpoint, source, tty, stop)
            follower.start()
            for name, glob in file_specs(state.labels).items():
                FileFollower(endpoint, source, name, glob, stop).start()  # they stop with the container's follower
            self.followers[docker_id] = (follower, stop)

    @staticmethod
    def source_of(node: Node, docker_id: str, name: str, labels: dict[str, str]) -> Source | None:
        app_id = labels.get("berth.application", "")
        if not app_id.isdigit():
            return None
        return Source(
            docker_id=docker_id,
            node_id=node.pk,
            node_name=node.name,
            cluster_id=node.cluster_id,
            application_id=int(app_id),
            service=labels.get("berth.service", "")[:64],
            container=(name.lstrip("/") or docker_id[:12])[:200],
            streams=stream_names(labels),
        )

    def forget(self, docker_ids: Iterable[str]) -> None:
        for docker_id in list(docker_ids):
            _follower, stop = self.followers.pop(docker_id)
            stop.set()  # it notices at its next line; a stopped container's stream ends by itself


def start_node(node_id: int, stop: threading.Event) -> threading.Thread:
    """The collector of one node (``apps.watcher.NODE_COMPANIONS``)."""
    thread = NodeLogs(node_id, stop)
    thread.start()
    return thread


# --- search ------------------------------------------------------------------------------------------------------


Refused = filters.Refused


FILTERS = ("q", "regex", "service", "container", "node", "stream", "since", "until")
MAX_PATTERN = 200


def check_pattern(pattern: str) -> str:
    """A regular expression to search lines with, or ``Refused``: at most ``MAX_PATTERN`` characters, one RE2 takes
    (linear-time matching: no back-references, look-arounds or atomic groups), without named groups (PostgreSQL's
    engine refuses them), and without a repetition of a repetition or of an alternation (``(a+)+``, ``(a|a)+``:
    the shapes whose matching time explodes in a backtracking engine, which PostgreSQL's may be)."""
    if len(pattern) > MAX_PATTERN:
        raise Refused("regex", _("At most %(n)s characters.") % {"n": MAX_PATTERN})
    try:
        re2.compile(pattern)
        import re._parser as sre_parse  # Python 3.11+: the shape of the pattern

        tree = sre_parse.parse(pattern)
    except (re2.error, re.error, RecursionError, OverflowError) as exc:
        words = str(exc).replace("\n", " ")[:200]
        raise Refused("regex", _("Not a regular expression a log search runs: %(e)s.") % {"e": words}) from None
    if "(?P" in pattern or "(?<" in pattern:
        raise Refused("regex", _("Named groups are not allowed in a log search."))
    repeats = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)}
    nested = _("A repetition inside a repetition (such as (a+)+ or (a|b)+) could run away: not allowed.")

    def walk(items: Any, inside_repeat: bool) -> None:
        for op, value in items:
            if op in repeats:
                _low, high, sub = value
                if inside_repeat and high > 1:
                    raise Refused("regex", nested)
                walk(sub, inside_repeat or high > 1)
            elif op == sre_parse.SUBPATTERN:
                walk(value[-1], inside_repeat)
            elif op == sre_parse.BRANCH:
                if inside_repeat:
                    raise Refused("regex", nested)
                for branch in value[1]:
                    walk(branch, inside_repeat)

    walk(tree, False)
    return pattern


class Re2Match(Lookup):
    """``text__re2=pattern``: on SQLite, RE2 in linear time (``berth_re2``, registered on each connection); on
    PostgreSQL, its own regular expressions (``~``), the pattern checked first (``check_pattern``)."""

    lookup_name = "re2"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if connection.vendor == "sqlite":
            return f"berth_re2({rhs}, {lhs})", [*rhs_params, *lhs_params]
        return f"{lhs} ~ {rhs}", [*lhs_params, *rhs_params]


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern)


def sqlite_re2(pattern: str | None, value: str | None) -> bool:
    """SQLite's ``berth_re2(pattern, text)``."""
    if pattern is None or value is None:
        return False
    return _compiled(pattern).search(value) is not None


def register_sqlite_re2(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created``: give SQLite connections ``berth_re2``."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("berth_re2", 2, sqlite_re2, deterministic=True)


LogLine._meta.get_field("text").register_lookup(Re2Match)


def filtered(lines: QuerySet[LogLine], params: dict[str, str]) -> QuerySet[LogLine]:
    """``lines`` narrowed by the search's parameters (``FILTERS``; empty ones ignored); ``Refused`` for a bad one."""
    for field in ("q", "service", "container", "node", "stream"):
        if len(params.get(field, "")) > MAX_PATTERN:
            raise Refused(field, _("At most %(n)s characters.") % {"n": MAX_PATTERN})
    text = params.get("q", "")
    if text.strip():
        lines = lines.filter(text__icontains=text)
    pattern = params.get("regex", "")
    if pattern:
        lines = lines.filter(text__re2=check_pattern(pattern))
    for field, lookup in (
        ("service", "service"),
        ("container", "container"),
        ("node", "node_name"),
        ("stream", "stream"),
    ):
        value = params.get(field, "").strip()
        if value:
            lines = lines.filter(**{lookup: value})
    lines = filters.time_range(lines, params)
    return lines


# --- retention ---------------------------------------------------------------------------------------------------


def retention_of(tenant_id: int) -> tuple[int, int]:
    """The tenant's (days, megabytes)."""
    found = LogRetention.objects.filter(tenant_id=tenant_id).values_list("days", "megabytes").first()
    return found or (int(settings.BERTH_LOG_RETENTION_DAYS), int(settings.BERTH_LOG_RETENTION_MB))


def prune(now: datetime | None = None) -> int:
    """Each tenant's lines older than its days go, then its oldest lines while what it keeps is over its size;
    how many went."""
    now = now or timezone.now()
    removed = 0
    for tenant_id in Application.objects.values_list("tenant_id", flat=True).distinct():
        days, megabytes = retention_of(tenant_id)
        mine = LogLine.objects.filter(application__tenant_id=tenant_id)
        removed += mine.filter(at__lt=now - timedelta(days=days)).delete()[0]
        excess = (mine.aggregate(size=Sum(Length("text")))["size"] or 0) - megabytes * 1024 * 1024
        if excess <= 0:
            continue
        doomed: list[int] = []
        oldest = mine.order_by("ts_ns", "id").annotate(size=Length("text")).values_list("pk", "size")
        for pk, size in oldest.iterator(chunk_size=5000):  # the oldest lines, until the excess is covered
            doomed.append(pk)
            excess -= size
            if excess <= 0:
                break
        for start in range(0, len(doomed), 1000):
            removed += LogLine.objects.filter(pk__in=doomed[start : start + 1000]).delete()[0]
    return removed


def retention_resource(tenant_id: int) -> str:
    return f"acs:cs:*:{tenant_id}:logretention"


def set_retention(user: Any, days: int, megabytes: int) -> LogRetention:
    """Set the tenant's retention (``cs:ModifyLogRetention``); on record. What is past it goes at the next prune."""
    resource = retention_resource(user.tenant_id)
    permissions.authorize_tenant(user, "cs:ModifyLogRetention", resource, target="log retention")
    kept, _created = LogRetention.objects.update_or_create(
        tenant_id=user.tenant_id, defaults={"days": days, "megabytes": megabytes}
    )
    audit.record(
        "cs:ModifyLogRetention",
        actor=user,
        resource=resource,
        target="log retention",
        parameters={"days": days, "megabytes": megabytes},
    )
    return kept
