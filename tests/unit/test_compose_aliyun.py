"""Alibaba swarm-edition extensions: aliyun.* labels, scheduling hints, scale and global services."""

from __future__ import annotations

import pytest

from apps.compose import (
    AliyunLabels,
    ComposeError,
    LogSpec,
    ProbeSpec,
    Rule,
    SchedulingHints,
    aliyun_labels,
    is_global,
    labels_of,
    load,
    load_with_warnings,
    scheduling_hints,
    service_scale,
)
from tests.unit.test_compose_corpus import CORPUS


def corpus_model(name: str) -> dict:
    """A corpus file, loaded."""
    return load((CORPUS / name).read_bytes(), strict_variables=False)


def refused(text: str) -> list[str]:
    """The problems of a refused file."""
    with pytest.raises(ComposeError) as caught:
        load(text)
    return [str(problem) for problem in caught.value.errors]


def test_every_label_of_the_corpus_file_parsed() -> None:
    model = corpus_model("aliyun_labels.yml")
    assert aliyun_labels(model, "web") == AliyunLabels(
        scale=3,
        depends=("api", "cache"),
        latest_image=True,
        probe=ProbeSpec(url="http://container:80/health", timeout_seconds=5, initial_delay_seconds=10),
        rolling_updates=True,
        rolling_updates_parallelism=2,
        routing={80: ("www.example.com", "http://example.com/app")},
        routing_session_sticky=True,
        lb={80: "tcp://slb-web:80"},
        auto_scaling={"max_cpu": "70", "step": "2"},
        schedule="0 2 * * *",
    )
    assert aliyun_labels(model, "api").probe == ProbeSpec(cmd="curl -f http://localhost:8080/ping")
    assert aliyun_labels(model, "cache") == AliyunLabels(global_=True, probe=ProbeSpec(url="tcp://container:6379"))


def test_labels_of_returns_normalized_labels() -> None:
    model = load("services:\n  web:\n    image: x\n    labels: [a=1, b]\n")
    assert labels_of(model, "web") == {"a": "1", "b": ""}
    assert aliyun_labels(model, "web") == AliyunLabels()
    with pytest.raises(KeyError, match="no service 'db'"):
        labels_of(model, "db")


def test_scale_precedence() -> None:
    text = (
        "services:\n"
        "  a:\n    image: x\n    labels: {aliyun.scale: '5'}\n    deploy: {replicas: 2}\n    scale: 2\n"
        "  b:\n    image: x\n    deploy: {replicas: 2}\n"
        "  c:\n    image: x\n    scale: 3\n"
        "  d:\n    image: x\n"
        "  e:\n    image: x\n    labels: {aliyun.scale: '0'}\n"
    )
    model = load(text)
    assert [service_scale(model, name) for name in "abcde"] == [5, 2, 3, 1, 0]


def test_scale_and_replicas_must_agree() -> None:
    text = "services:\n  a:\n    image: x\n    deploy: {replicas: 2}\n    scale: 3\n"
    assert refused(text) == ["services.a.scale: scale (3) and deploy.replicas (2) disagree; set only one of them"]
    assert service_scale(load(text.replace("scale: 3", "scale: 2")), "a") == 2


def test_global_services() -> None:
    model = load(
        "services:\n  a:\n    image: x\n    labels: {aliyun.global: 'true'}\n"
        "  b:\n    image: x\n    deploy: {mode: global}\n"
        "  c:\n    image: x\n    labels: {aliyun.global: 'false'}\n"
        "  d:\n    image: x\n    deploy: {mode: replicated}\n"
    )
    assert [is_global(model, name) for name in "abcd"] == [True, True, False, False]


def test_scheduling_hints_from_environment_and_placement() -> None:
    model = corpus_model("aliyun_scheduling_hints.yml")
    assert scheduling_hints(model, "db") == SchedulingHints(
        constraints=(
            Rule("constraint", "aliyun.node_index", "==", "1"),
            Rule("constraint", "disk", "!=", "hdd"),
            Rule("constraint", "zone", "==", "cn-hangzhou-b", soft=True),
            Rule("constraint", "node.labels.zone", "==", "a"),
        ),
        availability_zones=3,
        reschedule_on_node_failure=True,
    )
    assert scheduling_hints(model, "web") == SchedulingHints(
        affinities=(
            Rule("affinity", "service", "==", "db"),
            Rule("affinity", "service", "!=", "web"),
            Rule("affinity", "container", "!=", "*cache*"),
            Rule("affinity", "image", "==", "example/web*", soft=True),
            Rule("affinity", "image", "!=", "batch*", soft=True),
        )
    )


def test_hints_stay_in_the_environment_as_compose_keeps_them() -> None:
    model = corpus_model("aliyun_scheduling_hints.yml")
    environment = model["services"]["db"]["environment"]
    assert environment["constraint:aliyun.node_index"] == "=1"
    assert environment["reschedule:on-node-failure"] is None


def test_placement_constraints_parsed() -> None:
    model = corpus_model("deploy_resources_placement.yml")
    assert scheduling_hints(model, "api").constraints == (
        Rule("constraint", "node.labels.zone", "==", "a"),
        Rule("constraint", "node.hostname", "!=", "build-01"),
        Rule("constraint", "node.role", "==", "worker"),
    )
    assert scheduling_hints(model, "monitor") == SchedulingHints()


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("aliyun.scale: '-1'", "label aliyun.scale must be a whole number of at least 0, not '-1'"),
        ("aliyun.scale: two", "label aliyun.scale must be a whole number of at least 0, not 'two'"),
        ("aliyun.global: yes", 'label aliyun.global must be "true" or "false", not \'yes\''),
        ("aliyun.latest_image: '1'", 'label aliyun.latest_image must be "true" or "false", not \'1\''),
        ("aliyun.depends: 'db, ghost'", 'label aliyun.depends names undefined service "ghost"'),
        ("aliyun.depends: web", "label aliyun.depends: service 'web' cannot depend on itself"),
        (
            "aliyun.probe.url: ftp://container/x",
            "label aliyun.probe.url must be http://container[:PORT]/PATH or tcp://container:PORT, not "
            "'ftp://container/x'",
        ),
        (
            "aliyun.probe.url: tcp://container",
            "label aliyun.probe.url: a tcp probe is tcp://container:PORT, not 'tcp://container'",
        ),
        ("aliyun.probe.url: http://container:70000/", "label aliyun.probe.url: port 70000 is out of range (1-65535)"),
        ("aliyun.probe.timeout_seconds: '5'", "aliyun.probe.* timings need aliyun.probe.url or aliyun.probe.cmd"),
        (
            "aliyun.rolling_updates.parallelism: '0'",
            "label aliyun.rolling_updates.parallelism must be a whole number of at least 1, not '0'",
        ),
        (
            "aliyun.routing.port_70000: a.com",
            "label aliyun.routing.port_70000: container port 70000 is out of range (1-65535)",
        ),
        (
            "aliyun.routing.port_80: 'bad domain!'",
            "label aliyun.routing.port_80: the prefix 'bad domain!' is not a DNS label: 'bad domain!' must be 1 to 63 "
            "lower-case letters, digits and hyphens, not starting or ending with a hyphen",
        ),
        ("aliyun.routing.port_80: ''", "label aliyun.routing.port_80 needs at least one domain"),
        (
            "aliyun.lb.port_80: slb",
            "label aliyun.lb.port_80 must be tcp://LISTENER:FRONT_PORT (or http/https; a listener name of letters, "
            "digits, _, . and -), not 'slb'",
        ),
        ("aliyun.schedule: ' '", "label aliyun.schedule must not be empty"),
        ("aliyun.retry_count: '-1'", "label aliyun.retry_count must be a whole number of at least 0, not '-1'"),
        ("aliyun.retry_count: many", "label aliyun.retry_count must be a whole number of at least 0, not 'many'"),
        (
            "aliyun.remove_containers: remove-some",
            "label aliyun.remove_containers must be one of remove-none, remove-finished, remove-failed, "
            "remove-all, not 'remove-some'",
        ),
        (
            "aliyun.logs.app: logs/app.log",
            "label aliyun.logs.app must be stdout or an absolute path inside the container (globs allowed, no ..), "
            "not 'logs/app.log'",
        ),
        (
            "aliyun.logs.app: /var/log/../../etc/shadow",
            "label aliyun.logs.app must be stdout or an absolute path inside the container (globs allowed, no ..), "
            "not '/var/log/../../etc/shadow'",
        ),
        (
            "aliyun.logs.app: stderr",
            "label aliyun.logs.app must be stdout or an absolute path inside the container "
            "(globs allowed, no ..), not 'stderr'",
        ),
        (
            "aliyun.logs.web/app: stdout",
            "label aliyun.logs.web/app: a log name holds letters, digits, _ and - only, not 'web/app'",
        ),
        (
            "aliyun.logs.app.tags: a=1",
            "labels aliyun.logs.app.* describe a log that no label aliyun.logs.app (stdout or a path) names",
        ),
    ],
)
def test_malformed_labels(label: str, message: str) -> None:
    text = f"services:\n  web:\n    image: x\n    labels:\n      {label}\n  db:\n    image: y\n"
    assert refused(text) == [f"services.web.labels: {message}"]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (
            "{aliyun.logs.a: stdout, aliyun.logs.a.format: xml}",
            "label aliyun.logs.a.format must be one of none, json, csv, nginx, apache2, regexp, not 'xml'",
        ),
        (
            "{aliyun.logs.a: stdout, aliyun.logs.a.format: regexp}",
            "label aliyun.logs.a.format regexp needs aliyun.logs.a.format.pattern",
        ),
        (
            "{aliyun.logs.a: stdout, aliyun.logs.a.format.pattern: '.*'}",
            "label aliyun.logs.a.format.pattern needs aliyun.logs.a.format: regexp",
        ),
        (
            "{aliyun.logs.a: stdout, aliyun.logs.a.tags: 'app=shop,tier'}",
            "label aliyun.logs.a.tags must be key=value pairs separated by commas, not 'app=shop,tier'",
        ),
        (
            "{aliyun.logs.a: stdout, aliyun.logs.a.target: 'my store'}",
            "label aliyun.logs.a.target must be a name of letters, digits, _, . and -, not 'my store'",
        ),
    ],
)
def test_malformed_log_labels(labels: str, message: str) -> None:
    assert refused(f"services:\n  web:\n    image: x\n    labels: {labels}\n") == [f"services.web.labels: {message}"]


def test_log_and_task_labels_of_the_corpus_file_parsed() -> None:
    model = corpus_model("aliyun_logs_tasks.yml")
    assert aliyun_labels(model, "web").logs == {
        "catalina": LogSpec("catalina", "stdout"),
        "access": LogSpec(
            "access",
            "/usr/local/tomcat/logs/localhost_access_log.*.txt",
            format="regexp",
            pattern=r"^(?<host>\S+) \S+ \S+ \[(?<time>[^\]]+)\]",
            tags={"app": "shop", "tier": "web"},
            target="shop-access",
        ),
    }
    assert aliyun_labels(model, "web").logs["catalina"].is_stdout
    report = aliyun_labels(model, "report")
    assert (report.retry_count, report.remove_containers, report.schedule) == (3, "remove-finished", "0 30 2 * * *")
    cleanup = aliyun_labels(model, "cleanup")
    assert (cleanup.retry_count, cleanup.remove_containers) == (0, "remove-all")
    assert cleanup.logs == {"cleanup": LogSpec("cleanup", "stdout", format="json")}


def test_unknown_alibaba_labels_are_warnings_not_refusals() -> None:
    """A template written for Alibaba's console loads unchanged; what Berth does not know is said, not refused."""
    loaded = load_with_warnings((CORPUS / "aliyun_logs_tasks.yml").read_bytes())
    assert loaded.model["services"]["report"]["labels"]["aliyun.project_type"] == "batch"  # kept as written
    assert [str(w) for w in loaded.warnings] == [
        "services.report.labels: unknown Alibaba label aliyun.project_type: it stays on the containers, but Berth "
        "does nothing with it"
    ]
    text = "services:\n  web:\n    image: x\n    labels: {aliyun.unknown: x, aliyun.probe.interval: '5', "
    text += "aliyun.logs.a: stdout, aliyun.logs.a.multiline: 'true'}\n"
    assert [w.message.split(":")[0] for w in load_with_warnings(text).warnings] == [
        "unknown Alibaba label aliyun.unknown",
        "unknown Alibaba label aliyun.probe.interval",
        "unknown Alibaba label aliyun.logs.a.multiline",
    ]
    assert aliyun_labels(load(text), "web").logs == {"a": LogSpec("a", "stdout")}


def test_probe_url_and_cmd_together() -> None:
    text = (
        "services:\n  web:\n    image: x\n    labels:\n      aliyun.probe.url: http://container/\n"
        "      aliyun.probe.cmd: 'true'\n"
    )
    assert refused(text) == ["services.web.labels: labels aliyun.probe.url and aliyun.probe.cmd cannot both be set"]


@pytest.mark.parametrize(
    ("hint", "message"),
    [
        (
            "constraint:zone",
            'scheduling hint "constraint:zone" is malformed: expected constraint:LABEL==VALUE, '
            "affinity:service==NAME, availability:az==N or reschedule:on-node-failure (!= and ~ allowed)",
        ),
        (
            "constraint:zone==",
            'scheduling hint "constraint:zone==" is malformed: expected constraint:LABEL==VALUE, '
            "affinity:service==NAME, availability:az==N or reschedule:on-node-failure (!= and ~ allowed)",
        ),
        (
            "availability:az==0",
            'scheduling hint "availability:az==0" is malformed: expected availability:az==N with N 1 or more',
        ),
        (
            "availability:az==two",
            'scheduling hint "availability:az==two" is malformed: expected availability:az==N with N 1 or more',
        ),
        ("affinity:node==x", 'scheduling hint "affinity:node==x": affinity applies to service, container, image'),
        (
            "reschedule:always",
            'scheduling hint "reschedule:always" is malformed: expected constraint:LABEL==VALUE, '
            "affinity:service==NAME, availability:az==N or reschedule:on-node-failure (!= and ~ allowed)",
        ),
    ],
)
def test_malformed_hints(hint: str, message: str) -> None:
    text = f"services:\n  web:\n    image: x\n    environment:\n      - '{hint}'\n"
    assert refused(text) == [f"services.web.environment: {message}"]


def test_hints_compose_would_merge_are_refused() -> None:
    text = (
        "services:\n  web:\n    image: x\n    environment:\n      - affinity:service!=a\n      - affinity:service!=~b\n"
    )
    assert refused(text) == [
        'services.web.environment: scheduling hints "affinity:service!=a" and "affinity:service!=~b" are the same '
        'variable "affinity:service!" to Compose, which keeps only the last; write one hint per key'
    ]


def test_malformed_placement_constraint() -> None:
    text = "services:\n  web:\n    image: x\n    deploy:\n      placement:\n"
    text += "        constraints: [zone=a, node.labels.z==a]\n"
    assert refused(text) == [
        'services.web.deploy.placement.constraints[0]: placement constraint "zone=a" is malformed: expected '
        "node.labels.L==V, node.hostname!=H, node.role==manager..."
    ]
