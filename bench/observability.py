"""Log and stats collection at scale (issue 15), on this machine's engine, by Berth's watcher process.

Logs: ``CONTAINERS`` containers each printing ``RATE`` lines a second for ``SECONDS`` seconds. Prints the lines
produced and collected (goal: all of them), the collection rate against the production rate while they print, how
long it took until the last one was kept, the collector's CPU (the watcher process, user + system) per 1,000 lines,
and the latency of searches over everything collected.

Stats: ``STATS`` (50 and 200) idle containers followed by one stats stream each for ``STATS_SECONDS``; prints the CPU
the watcher and dockerd spend per second on it, against what one ``docker stats --no-stream`` of the same containers
costs (the CLI and dockerd, and how long it takes).

Run: ``.venv/bin/python bench/observability.py`` (CONTAINERS=100 RATE=100 SECONDS=60 STATS=50,200 STATS_SECONDS=30
by default; each can be set in the environment; PART=logs or PART=stats runs one). Traffic stays on this machine;
every loop is bounded in count and time.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import statistics
import subprocess
import time

os.environ.setdefault("BERTH_NETWORK_MODE", "bridge")  # this machine's engine alone: no swarm to make or leave

from common import DATA, berth  # noqa: E402

CONTAINERS = int(os.environ.get("CONTAINERS", "100"))
RATE = int(os.environ.get("RATE", "100"))
SECONDS = int(os.environ.get("SECONDS", "60"))
STATS = [int(n) for n in os.environ.get("STATS", "50,200").split(",") if n]
STATS_SECONDS = int(os.environ.get("STATS_SECONDS", "30"))
PART = os.environ.get("PART", "")
PADDING = "x" * 40


def compose() -> str:
    script = (
        f"s=0; while [ $$s -lt {SECONDS} ]; do i=0; while [ $$i -lt {RATE} ]; do "
        f'echo "t=$$s n=$$i $$HOSTNAME {PADDING}"; i=$$((i+1)); done; s=$$((s+1)); sleep 1; done; sleep 3600'
    )
    return (
        "services:\n  talker:\n    image: local/busybox:1\n    init: true\n"
        f'    command: ["sh", "-c", \'{script}\']\n    scale: {CONTAINERS}\n'
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat, clock ticks)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def collected(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM observability_logline").fetchone()[0]


def dockerd_pid() -> int:
    return int(subprocess.run(["pgrep", "-o", "-x", "dockerd"], capture_output=True, text=True, check=True).stdout)


def stats_part() -> None:
    """The stats streams' cost against docker stats --no-stream, for each size in STATS."""
    import docker

    with berth(watcher=True) as api:
        cluster = api.local_cluster()
        watcher = api.procs[-1]
        engine = docker.from_env()
        daemon = dockerd_pid()
        for count in STATS:
            per = [min(100, count - start) for start in range(0, count, 100)]  # at most 100 per service
            idle = "services:\n" + "".join(
                f"  idle{i}:\n    image: local/busybox:1\n    command: sleep 3600\n    scale: {n}\n"
                for i, n in enumerate(per)
            )
            release = api.call("POST", f"/api/v1/clusters/{cluster}/applications", {"name": "idle", "compose": idle})
            if api.wait_release(release, limit=900)["status"] != "successful":
                raise SystemExit("the idle containers did not start")
            time.sleep(10)  # every container followed (the collector lists each node every 2 s)
            before = (cpu_seconds(watcher.pid), cpu_seconds(daemon), time.monotonic())
            time.sleep(STATS_SECONDS)
            after = (cpu_seconds(watcher.pid), cpu_seconds(daemon), time.monotonic())
            elapsed = after[2] - before[2]
            streaming = ((after[0] - before[0]) / elapsed, (after[1] - before[1]) / elapsed)
            ids = [c.id for c in engine.containers.list(filters={"label": "berth.application.name=idle"})]
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = (cpu_seconds(daemon), time.monotonic())
            subprocess.run(["docker", "stats", "--no-stream", *ids], capture_output=True, check=True)
            spent = (cpu_seconds(daemon) - started[0], time.monotonic() - started[1])
            done = resource.getrusage(resource.RUSAGE_CHILDREN)
            client = (done.ru_utime - children.ru_utime) + (done.ru_stime - children.ru_stime)
            print(  # noqa: T201
                f"stats of {count} containers: streaming costs the watcher {streaming[0]:.3f} CPU-s/s and dockerd "
                f"{streaming[1]:.3f} CPU-s/s; one docker stats --no-stream costs dockerd {spent[0]:.2f} CPU-s and "
                f"the CLI {client:.2f} CPU-s, and takes {spent[1]:.2f} s"
            )
            api.wait_release(api.call("DELETE", f"/api/v1/clusters/{cluster}/applications/idle"), limit=900)


def main() -> None:
    if PART != "logs":
        stats_part()
    if PART != "stats":
        logs_part()


def logs_part() -> None:
    produced = CONTAINERS * RATE * SECONDS
    with berth(watcher=True) as api:
        cluster = api.local_cluster()
        watcher = api.procs[-1]
        db = sqlite3.connect(DATA / "bench.sqlite3", timeout=30)
        cpu_before = cpu_seconds(watcher.pid)
        release = api.call("POST", f"/api/v1/clusters/{cluster}/applications", {"name": "talk", "compose": compose()})
        done = api.wait_release(release, limit=600)
        if done["status"] != "successful":
            raise SystemExit(f"deploy failed: {done['error']}")
        started = time.monotonic()
        samples = []
        deadline = started + SECONDS + 120  # the printing, then at most two minutes to catch up
        while time.monotonic() < deadline:
            count = collected(db)
            samples.append((time.monotonic() - started, count))
            if count >= produced:
                break
            time.sleep(1.0)
        finished = time.monotonic() - started
        cpu = cpu_seconds(watcher.pid) - cpu_before
        total = collected(db)
        during = [c for t, c in samples if t <= SECONDS]
        rate_during = (during[-1] - during[0]) / SECONDS if len(during) > 1 else 0.0

        base = f"/api/v1/clusters/{cluster}/applications/talk/logs"
        searches = {
            "text (one container's line)": {"q": "t=30 n=50 ", "limit": "50"},
            "regular expression": {"regex": "t=1[0-9] n=99 ", "limit": "50"},
            "container filter, one page": {"container": "talk_talker_7", "limit": "100"},
            "time range, one page": {"since": "2000-01-01T00:00:00Z", "limit": "100"},
        }
        latencies = {}
        for name, params in searches.items():
            times = []
            for _ in range(5):
                query = "&".join(f"{k}={v}" for k, v in params.items()).replace(" ", "%20")
                t0 = time.monotonic()
                api.call("GET", f"{base}?{query}")
                times.append(time.monotonic() - t0)
            latencies[name] = statistics.median(times)
        api.wait_release(api.call("DELETE", f"/api/v1/clusters/{cluster}/applications/talk"), limit=600)

    print(f"containers {CONTAINERS}, {RATE} lines/s each, {SECONDS} s: {produced:,} lines produced")  # noqa: T201
    print(f"collected {total:,} ({100 * total / produced:.2f} %), all kept {finished:.1f} s after the first line")  # noqa: T201
    print(f"collection rate while printing: {rate_during:,.0f} lines/s (produced {CONTAINERS * RATE:,}/s)")  # noqa: T201
    print(f"collector CPU (watcher process): {cpu:.1f} s, {1000 * cpu / max(total, 1):.3f} s per 1,000 lines")  # noqa: T201
    for name, seconds in latencies.items():
        print(f"search, {name}: {1000 * seconds:.0f} ms (median of 5) over {total:,} lines")  # noqa: T201


if __name__ == "__main__":
    main()
