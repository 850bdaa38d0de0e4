"""The services `make up` starts outlive the console: a terminal's Ctrl-C stops only the console."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import harness

pytestmark = [pytest.mark.integration]


def _answers(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode == 0


SPARE_NS = "berth-sigint"
IN_NS = ["nsenter", f"--net=/run/netns/{SPARE_NS}"]
"""The spare services run in a network namespace of their own: a second dockerd in this machine's would manage
its interfaces too (one started with `--bridge none` or another bridge deletes docker0, moby's
removeDefaultBridgeInterface, under the engine everyone here uses)."""


@pytest.fixture
def spare_services() -> Iterator[dict[str, str]]:
    """Where the start script will start a second dockerd and Redis of its own (this test's only)."""
    root = Path(tempfile.mkdtemp(prefix="berth-sigint-"))
    sock = root / "docker.sock"
    port = harness.free_port()
    subprocess.run(["ip", "netns", "del", SPARE_NS], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", SPARE_NS], check=True, capture_output=True)
    subprocess.run([*IN_NS, "ip", "link", "set", "lo", "up"], check=True, capture_output=True)
    env = {
        **os.environ,
        "DOCKER_HOST": f"unix://{sock}",
        "BERTH_DOCKERD_ARGS": (
            f"--data-root {root}/data --exec-root {root}/exec --pidfile {root}/dockerd.pid "
            f"--iptables=false --ip-masq=false --containerd-namespace berth-sigint "
            f"--containerd-plugins-namespace berth-sigint-plugins"
        ),
        "BERTH_DOCKERD_LOG": str(root / "dockerd.log"),
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
    }
    try:
        yield env
    finally:
        pid_file = root / "dockerd.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().strip() or 0)
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                    harness.wait_until(lambda: not Path(f"/proc/{pid}").exists(), 30, 0.2, "spare dockerd to stop")
                except ProcessLookupError:
                    pass
        subprocess.run([*IN_NS, "redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True, check=False)
        subprocess.run(["pkill", "-f", "--", "-namespace berth-sigint "], check=False)
        for line in reversed(Path("/proc/mounts").read_text().splitlines()):
            mount = line.split()[1]
            if mount.startswith(str(root)):
                subprocess.run(["umount", "-l", mount], check=False)
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", SPARE_NS], capture_output=True, check=False)


def test_ctrl_c_on_the_start_command_leaves_dockerd_and_redis_running(spare_services: dict[str, str]) -> None:
    env = spare_services
    port = env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0]
    docker_ping = ["docker", "-H", env["DOCKER_HOST"], "version"]
    redis_ping = [*IN_NS, "redis-cli", "-p", port, "ping"]
    # As a terminal runs `make up`: the start script, then the console in the foreground, one process group
    # (nsenter puts it in the spare namespace and runs it in its own place: the process is the shell, then sleep).
    console = subprocess.Popen(
        [*IN_NS, "bash", "-c", f"{harness.ROOT}/scripts/services.sh && exec sleep 300"],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        harness.wait_until(lambda: _answers(docker_ping) and _answers(redis_ping), 120, 0.5, "services to start")
        harness.wait_until(lambda: Path(f"/proc/{console.pid}/cmdline").read_bytes().startswith(b"sleep"), 120, 0.2)
        os.killpg(console.pid, signal.SIGINT)  # Ctrl-C: SIGINT to the whole foreground process group
        console.wait(10)
        time.sleep(3)  # dockerd needs well under a second to act on SIGINT
        assert _answers(docker_ping), "dockerd stopped with the console"
        assert _answers(redis_ping), "Redis stopped with the console"
    finally:
        if console.poll() is None:
            os.killpg(console.pid, signal.SIGKILL)
            console.wait(5)


def test_ctrl_c_stops_the_console_and_the_start_command_ends_successfully(tmp_path: Path) -> None:
    """Ctrl-C is the normal way to stop the console: its processes stop and scripts/up.sh ends with 0, whether honcho
    or this script's trap sees the terminal's SIGINT first (it ended with 130 when honcho did)."""
    procfile = tmp_path / "Procfile"
    procfile.write_text("napper: sleep 3217\n")
    console = subprocess.Popen(
        ["bash", str(harness.ROOT / "scripts" / "up.sh"), "--console-only", str(procfile)],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def napping() -> bool:
        found = subprocess.run(["pgrep", "-f", "sleep 3217"], capture_output=True, check=False)
        return found.returncode == 0

    try:
        harness.wait_until(napping, 60, 0.2, "the console's process to start")
        os.killpg(console.pid, signal.SIGINT)  # Ctrl-C: SIGINT to the whole foreground process group
        assert console.wait(30) == 0, console.stdout.read().decode() if console.stdout else ""
        harness.wait_until(lambda: not napping(), 10, 0.2, "the console's process to stop")
    finally:
        if console.poll() is None:
            os.killpg(console.pid, signal.SIGKILL)
            console.wait(5)
