"""Following Docker's pull stream (pure logic), image references, and rollback pins."""

from __future__ import annotations

import pytest

from apps.stacks import ServiceRow, pin
from clusters.docker_host import split_reference
from clusters.pulls import PullFailed, PullProgress, human_bytes

# A pull as dockerd 20.10 streams it (trimmed): two layers fetched, one already on the node.
STREAM = [
    {"status": "Pulling from berth/web", "id": "1"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "aaa"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "bbb"},
    {"status": "Already exists", "progressDetail": {}, "id": "ccc"},
    {"status": "Downloading", "progressDetail": {"current": 500, "total": 1000}, "id": "aaa"},
    {"status": "Downloading", "progressDetail": {"current": 1000, "total": 3000}, "id": "bbb"},
    {"status": "Download complete", "progressDetail": {}, "id": "aaa"},
    {"status": "Extracting", "progressDetail": {"current": 4000, "total": 8000}, "id": "aaa"},
    {"status": "Pull complete", "progressDetail": {}, "id": "aaa"},
    {"status": "Downloading", "progressDetail": {"current": 3000, "total": 3000}, "id": "bbb"},
    {"status": "Pull complete", "progressDetail": {}, "id": "bbb"},
    {"status": "Digest: sha256:" + "d" * 64},
    {"status": "Status: Downloaded newer image for 127.0.0.1:5000/berth/web:1"},
]


def test_progress_counts_bytes_and_layers_as_they_arrive():
    state = PullProgress("127.0.0.1:5000/berth/web:1")
    seen = []
    for message in STREAM[:6]:
        state.feed(message)
        seen.append(state.percent)
    assert state.downloaded == (1500, 4000)
    assert state.layers_done == 1  # "Already exists"
    assert seen == sorted(seen), "percent never goes back"
    assert 0 < state.percent < 100


def test_extraction_does_not_change_the_download_total():
    state = PullProgress("x")
    for message in STREAM[:8]:
        state.feed(message)
    assert state.downloaded == (1000 + 1000, 4000)
    assert state.layers["aaa"].total == 8000  # the extraction phase's own size


def test_milestones_are_finished_layers_and_the_end():
    state = PullProgress("x")
    milestones = [m.get("id") or m["status"][:7] for m in STREAM if state.feed(m)]
    assert milestones == ["ccc", "aaa", "bbb", "Status:"]
    assert state.finished and state.changed and state.percent == 100
    assert state.digest == "sha256:" + "d" * 64
    assert state.layers_fetched == 2
    assert state.as_live()["layers_total"] == 3


def test_an_image_already_up_to_date_is_not_changed():
    state = PullProgress("x")
    state.feed({"status": "Digest: sha256:" + "e" * 64})
    state.feed({"status": "Status: Image is up to date for x:1"})
    assert state.finished and not state.changed


def test_an_error_in_the_stream_fails_the_pull():
    state = PullProgress("x")
    with pytest.raises(PullFailed, match="manifest unknown"):
        state.feed({"error": "manifest unknown", "errorDetail": {"message": "manifest unknown"}})


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("busybox", ("busybox", "latest")),
        ("local/busybox:1", ("local/busybox", "1")),
        ("127.0.0.1:5000/berth/web", ("127.0.0.1:5000/berth/web", "latest")),
        ("127.0.0.1:5000/berth/web:2", ("127.0.0.1:5000/berth/web", "2")),
        ("127.0.0.1:5000/web@sha256:" + "a" * 64, ("127.0.0.1:5000/web", "sha256:" + "a" * 64)),
    ],
)
def test_split_reference(image, expected):
    assert split_reference(image) == expected


def _row(name: str, image: str) -> ServiceRow:
    return ServiceRow(name, image, 1, False, [], [], False, False, {"image": image})


def test_pins_only_registry_digests_of_the_same_repository():
    rows = [_row("web", "reg:5000/web:1"), _row("db", "local/db:1"), _row("api", "reg:5000/api:2")]
    digests = {
        "web": "reg:5000/web@sha256:" + "a" * 64,
        "db": "sha256:" + "b" * 64,  # an image id: no registry has it
        "api": "reg:5000/other@sha256:" + "c" * 64,  # the template now names another repository
    }
    pinned = {r.name: r for r in pin(rows, digests)}
    assert pinned["web"].runs == digests["web"]
    assert pinned["db"].runs == "local/db:1"
    assert pinned["api"].runs == "reg:5000/api:2"


def test_human_bytes():
    assert [human_bytes(n) for n in (12, 4_500, 2_300_000)] == ["12 B", "4.5 kB", "2.3 MB"]
