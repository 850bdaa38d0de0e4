"""The command-line client's progress lines (pure: live messages in, lines out)."""

from __future__ import annotations

import pytest

from console.cli import Lines, _variables, main, plan_lines


def pull(percent: int, status: str = "pulling", release: int = 7) -> dict:
    return {
        "type": "pull",
        "release": release,
        "node": "n1",
        "image": "reg/web:1",
        "status": status,
        "percent": percent,
        "layers_done": 1 if percent < 100 else 2,
        "layers_total": 2,
        "current": percent * 10_000,
        "total": 1_000_000,
        "layers": [],
    }


def test_lines_follow_one_release_and_end_with_its_status():
    out: list[str] = []
    lines = Lines(7, out.append)
    assert lines.take({"type": "event", "release": 6, "message": "an older release"}) is None
    lines.take({"type": "release", "id": 7, "kind": "deploy", "status": "running", "percent": 40})
    lines.take({"type": "event", "release": 7, "message": "shop_web_1 is running on n1."})
    final = lines.take(
        {"type": "release", "id": 7, "kind": "deploy", "status": "failed", "percent": 50, "error": "no space"}
    )
    assert final is not None and final["status"] == "failed"
    assert out == ["[ 40%] shop_web_1 is running on n1.", "[ 50%] deploy failed: no space"]


def test_pull_lines_are_at_most_one_a_second_but_the_end_is_always_shown():
    out: list[str] = []
    lines = Lines(7, out.append)
    lines.take({**pull(0), "layers_done": 0, "layers_total": 0}, now=-5.0)  # before Docker lists the layers
    for at, message in ((0.0, pull(10)), (0.3, pull(20)), (0.9, pull(30)), (1.2, pull(40)), (1.3, pull(100, "done"))):
        lines.take(message, now=at)
    assert [line.split(": ", 1)[1] for line in out] == [
        "pulling 10% (1/2 layers, 100.0 kB of 1.0 MB)",
        "pulling 40% (1/2 layers, 400.0 kB of 1.0 MB)",
        "done 100% (2/2 layers, 1.0 MB of 1.0 MB)",
    ]
    assert out[0].startswith("[  0%] pull reg/web:1 on n1")


def test_variables_need_key_equals_value():
    assert _variables(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        _variables(["nope"])


def test_a_key_is_required(capsys, monkeypatch):
    monkeypatch.delenv("BERTH_ACCESS_KEY", raising=False)
    with pytest.raises(SystemExit):
        main(["follow", "1"])
    assert "BERTH_ACCESS_KEY" in capsys.readouterr().err


def test_a_plan_reads_as_lines():
    plan = {
        "application": "shop",
        "order": ["db", "web"],
        "services": [
            {"name": "db", "create": [], "recreate": [], "remove": [], "image_change": None},
            {
                "name": "web",
                "create": [{"container": "shop_web_2", "node": "n2"}],
                "recreate": [{"container": "shop_web_1", "node": "n1"}],
                "remove": [],
                "image_change": {"from": "web:1", "to": "web:2"},
            },
        ],
        "removed_services": [{"name": "old", "remove": [{"container": "shop_old_1", "node": "n1"}]}],
        "missing_images": {"n2": ["web:2"]},
        "port_conflicts": [{"service": "web", "port": 80, "used_by": "blog/web"}],
    }
    assert plan_lines(plan) == [
        "plan for shop (order: db → web)",
        "  db: unchanged",
        "  web: create shop_web_2 @ n2; recreate shop_web_1 @ n1; image web:1 → web:2",
        "  old: dropped; remove shop_old_1 @ n1",
        "  n2 lacks web:2 (pulled at deploy)",
        "  port 80 of web is taken by blog/web",
    ]


def test_an_update_asks_for_its_strategy_and_a_canarys_steps(monkeypatch, tmp_path):
    import io

    from console import cli

    sent = []

    def call(self, method, path, body=None):
        sent.append((method, path, body))
        return {"id": 9, "kind": "update", "application": "shop", "status": "successful", "percent": 100}

    monkeypatch.setattr(cli.Client, "call", call)
    compose = tmp_path / "c.yml"
    compose.write_text("services: {}\n")
    args = ["--key", "k:s", "update", "--cluster", "3", "--name", "shop", "-f", str(compose)]
    assert main([*args, "--strategy", "canary", "--steps", "20, 100", "--hold", "30"], stdout=io.StringIO()) == 0
    method, path, body = sent[-1]
    assert (method, path) == ("PATCH", "/api/v1/clusters/3/applications/shop")
    assert body["strategy"] == "canary" and body["canary"] == {"steps": [20, 100], "hold_seconds": 30}
    assert main(args, stdout=io.StringIO()) == 0
    assert "strategy" not in sent[-1][2] and "canary" not in sent[-1][2]
    with pytest.raises(SystemExit, match="whole percentages"):
        main([*args, "--strategy", "canary", "--steps", "ten"])


def test_release_controls_post_to_the_release_and_say_where_it_stands(monkeypatch):
    import io

    from console import cli

    sent = []

    def call(self, method, path, body=None):
        sent.append((method, path, body))
        shared = {"weight": 40} if path.endswith("weight") else None
        return {"id": 5, "kind": "update", "application": "shop", "status": "running", "side_by_side": shared}

    monkeypatch.setattr(cli.Client, "call", call)
    said = io.StringIO()
    assert main(["--key", "k:s", "weight", "5", "40"], stdout=said) == 0
    assert sent[-1] == ("POST", "/api/v1/releases/5/weight", {"weight": 40})
    assert said.getvalue() == "release 5: update of shop is running, 40% to the new version\n"
    for verb in ("confirm", "rollback", "pause", "resume", "cancel"):
        assert main(["--key", "k:s", verb, "5"], stdout=io.StringIO()) == 0
        assert sent[-1] == ("POST", f"/api/v1/releases/5/{verb}", None)
