"""Log collection at scale (issue 15): ``CONTAINERS`` containers on this machine's engine, each printing
``RATE`` lines a second for ``SECONDS`` seconds, collected by Berth's watcher process.

Prints: the lines produced and collected (goal: all of them), the collection rate against the production rate
while they print, how long after the last line was printed the last one was kept, the collector's CPU (the watcher
process, user + system) per 1,000 lines, and the latency of searches over everything collected.

Run: ``.venv/bin/python bench/observability.py`` (CONTAINERS=100 RATE=100 SECONDS=60 by default; each can be set in
the environment). Traffic stays on this machine; every loop is bounded in count and time.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time

from common import DATA, berth

CONTAINERS = int(os.environ.get("CONTAINERS", "100"))
RATE = int(os.environ.get("RATE", "100"))
SECONDS = int(os.environ.get("SECONDS", "60"))
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


def main() -> None:
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
