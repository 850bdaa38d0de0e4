"""The engine's stats as docker stats reads them, and Prometheus' text format (observability.metrics: pure)."""

from __future__ import annotations

from observability import metrics


def raw(total: int, system: int, before_total: int, before_system: int) -> dict:
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system, "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": before_total}, "system_cpu_usage": before_system},
        "memory_stats": {"usage": 50_000_000, "limit": 1_000_000_000, "stats": {"inactive_file": 10_000_000}},
        "networks": {"eth0": {"rx_bytes": 100, "tx_bytes": 40}, "eth1": {"rx_bytes": 1, "tx_bytes": 2}},
        "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": 7}, {"op": "Write", "value": 9}]},
    }


def test_a_sample_reads_as_docker_stats_does() -> None:
    # One CPU busy for the whole second, of two: 100 %; memory without the inactive page cache.
    sample = metrics.sample_of(raw(2_000_000_000, 4_000_000_000, 1_000_000_000, 2_000_000_000))
    assert sample == metrics.Sample(100.0, 40_000_000, 1_000_000_000, 101, 42, 7, 9)
    assert metrics.sample_of({"cpu_stats": {}, "precpu_stats": {}}) is None  # a stream's first sample


def test_the_exposition_escapes_labels_and_sums_nodes() -> None:
    container = {
        "kind": "container",
        "tenant_id": 1,
        "cluster_id": 2,
        "cluster": 'a"b',
        "application_id": 3,
        "application": "shop",
        "service": "web",
        "container": "shop_web_1",
        "node_id": 4,
        "node": "n1",
        "cpu_percent": 12.5,
        "memory_bytes": 100,
    }
    node = {"kind": "node", "tenant_id": 1, "cluster_id": 2, "cluster": "c", "node_id": 4, "node": "n1", "up": 1}
    text = metrics.exposition([container, {**container, "container": "shop_web_2", "cpu_percent": 2.5}, node])
    assert 'cluster="a\\"b"' in text
    assert 'berth_node_cpu_percent{tenant_id="1",cluster_id="2",cluster="c",node="n1"} 15.0' in text
    assert "# TYPE berth_container_network_receive_bytes_total counter" in text
    health = metrics.exposition([], [("berth_nodes", {"state": "ready"}, 2), ("berth_releases_running", {}, 0)])
    assert 'berth_nodes{state="ready"} 2' in health and "berth_releases_running 0" in health
