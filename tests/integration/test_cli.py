"""``python -m console.cli`` against the real console: deploy with progress lines (a pull among them), plan,
refused input, and a failed release's exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from accounts import operations as ram
from accounts.models import User
from clusters.models import Cluster
from tests import harness
from tests.registry import Registry, build_image

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def cli(stack: harness.Stack, key: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"BERTH_URL": stack.url, "BERTH_ACCESS_KEY": key, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *argv],
        cwd=harness.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_prints_progress_lines(
    stack: harness.Stack, cluster: Cluster, owner: User, registry: Registry, tmp_path: Path
) -> None:
    registry.push("berth/cli", "1", build_image((700_000, 900_000), marker="cli", seed=9))
    key, secret = ram.create_access_key(owner, owner)
    token = f"{key.key_id}:{secret}"
    compose = tmp_path / "compose.yml"
    compose.write_text(
        f"services:\n  web:\n    image: {registry.ref('berth/cli')}\n    command: sleep 3600\n    init: true\n"
        "    labels:\n      aliyun.scale: '2'\n"
    )
    args = ("--cluster", str(cluster.pk), "--name", "fromcli", "-f", str(compose))

    plan = cli(stack, token, "deploy", *args, "--plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert plan.stdout.startswith("plan for fromcli (order: web)\n  web: create fromcli_web_1 @ ")
    assert f"lacks {registry.ref('berth/cli')} (pulled at deploy)" in plan.stdout
    raw = cli(stack, token, "deploy", *args, "--plan", "--json")
    assert raw.returncode == 0 and '"fromcli_web_2"' in raw.stdout

    done = cli(stack, token, "deploy", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("release ") and lines[-1] == "[100%] deploy successful"
    assert any(f"pull {registry.ref('berth/cli')} on " in line and "done 100% (3/3 layers" in line for line in lines), (
        lines
    )
    assert any(line.endswith("fromcli_web_2 is running on " + cluster.nodes.get().name + ".") for line in lines)

    bad = cli(
        stack, token, "update", "--cluster", str(cluster.pk), "--name", "fromcli", "--var", "X=1", "-f", "/dev/null"
    )
    assert bad.returncode == 2 and bad.stdout.startswith("error 400")

    wrong = cli(stack, f"{key.key_id}:nope", "follow", "1")
    assert wrong.returncode == 2 and "Invalid access key" in wrong.stdout


def test_a_failed_release_exits_1(stack: harness.Stack, cluster: Cluster, owner: User, tmp_path: Path) -> None:
    key, secret = ram.create_access_key(owner, owner)
    compose = tmp_path / "compose.yml"
    compose.write_text("services:\n  web:\n    image: local/none:0\n    command: sleep 3600\n")
    failed = cli(
        stack, f"{key.key_id}:{secret}", "deploy", "--cluster", str(cluster.pk), "--name", "nope", "-f", str(compose)
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert failed.stdout.splitlines()[-1].startswith("[  0%] deploy failed: ") and "local/none:0" in failed.stdout


def test_a_rolling_update_shows_its_batches_prints_its_pause_and_is_canceled_from_the_cli(
    stack: harness.Stack, cluster: Cluster, owner: User, tmp_path: Path
) -> None:
    from tests.integration.test_rolling import compose as rolling

    key, secret = ram.create_access_key(owner, owner)
    token = f"{key.key_id}:{secret}"
    first, broken = tmp_path / "v1.yml", tmp_path / "v2.yml"
    first.write_text(rolling("1"))
    broken.write_text(rolling("2", health="false"))
    args = ("--cluster", str(cluster.pk), "--name", "clroll")
    assert cli(stack, token, "deploy", *args, "-f", str(first)).returncode == 0

    plan = cli(stack, token, "update", *args, "-f", str(broken), "--plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "    rolling start-first, 2 at a time, on failure pause (at most 6 containers at once)\n" in plan.stdout
    assert "      batch 1: clroll_web_1, clroll_web_2\n      batch 2: clroll_web_3, clroll_web_4\n" in plan.stdout

    env = {"BERTH_URL": stack.url, "BERTH_ACCESS_KEY": token, "PATH": "/usr/bin:/bin"}
    updating = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "update", *args, "-f", str(broken)],
        cwd=harness.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert updating.stdout is not None
        seen = []
        for line in updating.stdout:  # the release pauses after its first batch fails
            seen.append(line.rstrip("\n"))
            if "paused: resume with" in line:
                break
        release_id = seen[0].split()[1].rstrip(":")
        assert seen[-1].endswith(f"paused: resume with `resume {release_id}`, or stop with `cancel {release_id}`")
        assert any("web: batch 1 of 2, start-first: replacing clroll_web_1, clroll_web_2." in s for s in seen), seen
        canceled = cli(stack, token, "cancel", release_id)
        assert canceled.returncode == 0 and canceled.stdout.startswith(f"release {release_id}: update of clroll is ")
        rest = updating.stdout.read()
        assert updating.wait(60) == 1
        assert rest.splitlines()[-1].startswith("[") and "update canceled" in rest.splitlines()[-1], rest
    finally:
        updating.kill()
