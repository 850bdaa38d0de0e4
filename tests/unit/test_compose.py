"""Compose files Berth refuses: each problem named with its path and a precise message, all reported at once."""

from __future__ import annotations

import time

import pytest

from apps.compose import MAX_BYTES, ComposeError, Problem, load, load_with_warnings


def problems(text: str | bytes | list[str], **options: object) -> list[str]:
    """The problems load() reports, as ``path: message`` strings."""
    with pytest.raises(ComposeError) as caught:
        load(text, **options)  # type: ignore[arg-type]
    assert str(caught.value) == "\n".join(str(problem) for problem in caught.value.errors)
    return [str(problem) for problem in caught.value.errors]


def service(body: str, name: str = "web") -> str:
    """A one-service file whose service has ``image: nginx`` and the given (indented) body."""
    return f"services:\n  {name}:\n    image: nginx\n{body}"


BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def test_problem_and_error_text() -> None:
    problem = Problem("services.web.ports[1]", "published port 0 is out of range (1-65535)")
    assert str(problem) == "services.web.ports[1]: published port 0 is out of range (1-65535)"
    error = ComposeError([problem, Problem("(file)", "x")])
    assert isinstance(error, ValueError)
    assert str(error) == "services.web.ports[1]: published port 0 is out of range (1-65535)\n(file): x"


def test_yaml_bomb_fails_fast() -> None:
    started = time.perf_counter()
    found = problems(BILLION_LAUGHS)
    assert time.perf_counter() - started < 1
    assert found == ["line 6: the document expands to more than 100000 nodes through aliases (a YAML bomb?)"]


def test_recursive_alias() -> None:
    assert problems("services: &s\n  web: *s\n") == ["line 1: recursive alias: an anchor is used inside itself"]


def test_file_over_one_megabyte_is_refused_before_parsing() -> None:
    text = b"# " + b"x" * MAX_BYTES
    assert problems(text) == [f"(file): the file is {len(text)} bytes; Compose files over 1048576 bytes are refused"]


def test_tabs_for_indentation() -> None:
    assert problems("services:\n  web:\n\timage: nginx\n") == [
        "line 3: a tab character is used for indentation; YAML indentation must use spaces"
    ]


def test_duplicate_keys() -> None:
    assert problems("services:\n  web:\n    image: a\n  web:\n    image: b\n") == [
        'line 4: duplicate key "web" (first defined at line 2)'
    ]
    assert problems(service("    image: other\n")) == ['line 4: duplicate key "image" (first defined at line 3)']


def test_yaml_syntax_error_names_the_line() -> None:
    assert problems("services:\n  web: [a\n  db: b\n") == [
        "line 3: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "(file): the top level must be a mapping (services, networks, volumes...), not a list"),
        ("just text\n", "(file): the top level must be a mapping (services, networks, volumes...), not a string"),
        ("", "(file): the file is empty; it must be a mapping with a services section"),
        (
            "a: 1\n---\nb: 2\n",
            "line 2: invalid YAML: only one YAML document per file is supported (found a second document)",
        ),
        (b"services: \xff\n", "(file): the file is not valid UTF-8 text (byte 10)"),
        (
            "services:\n  web:\n    image: !!python/object:os.system x\n",
            "line 3: the tag tag:yaml.org,2002:python/object:os.system is not allowed (plain YAML data only)",
        ),
    ],
)
def test_not_a_compose_mapping(text: str | bytes, expected: str) -> None:
    assert problems(text) == [expected]


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("0:80", "published port 0 is out of range (1-65535)"),
        ("70000:80", "published port 70000 is out of range (1-65535)"),
        ("80:0", "container port 0 is out of range (1-65535)"),
        ("abc", "container port 'abc' is not a port number or range (1-65535)"),
        ("8000-8001:80-82", "published range 8000-8001 and container range 80-82 must have the same number of ports"),
        ("90-80", "container port range 90-80 ends before it starts"),
        ("80/icmp", "protocol 'icmp' is not one of tcp, udp, sctp"),
        ("1:2:3:4", "'1:2:3:4' is not a port: expected [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]"),
    ],
)
def test_invalid_ports(port: str, expected: str) -> None:
    assert problems(service(f"    ports: ['8080:80', '{port}']\n")) == [f"services.web.ports[1]: {expected}"]


def test_invalid_long_port_and_expose() -> None:
    text = service("    ports:\n      - {target: 70000, published: 0, mode: bridge}\n    expose: ['99999']\n")
    assert problems(text) == [
        "services.web.ports[0].mode: must be ingress or host, not 'bridge'",
        "services.web.ports[0].target: container port 70000 is out of range (1-65535)",
        "services.web.ports[0].published: published port 0 is out of range (1-65535)",
        "services.web.expose[0]: exposed port 99999 is out of range (1-65535)",
    ]


@pytest.mark.parametrize("name", ["web;rm", "../x", "a b", "Web", "-web", "web\nx", "a" * 64, "web$(id)", "web,x=1"])
def test_service_names_that_could_inject(name: str) -> None:
    text = f'services:\n  "{name.encode("unicode_escape").decode()}":\n    image: nginx\n'
    shown = name.encode("unicode_escape").decode()
    assert problems(text) == [
        f'services.{shown}: service name "{shown}" is not allowed: use 1 to 63 lowercase letters, digits, "_" or "-", '
        "starting with a letter or digit"
    ]


@pytest.mark.parametrize("project", ["My App", "app;rm", "../app", "", "_app"])
def test_project_names_that_could_inject(project: str) -> None:
    assert problems(service(""), project=project) == [
        f'(project): project name "{project}" is not allowed: use lowercase letters, digits, "_" or "-", '
        "starting with a letter or digit"
    ]


def test_label_breaking_keys_and_values() -> None:
    text = service('    labels:\n      "bad key": x\n      "a=b": c\n      good: "line\\nbreak"\n')
    assert problems(text) == [
        'services.web.labels: label key "bad key" is not allowed: use letters, digits, ".", "_", "/" and "-"',
        'services.web.labels: label key "a=b" is not allowed: use letters, digits, ".", "_", "/" and "-"',
        "services.web.labels.good: label values must not contain control characters",
    ]


def test_dependency_cycle_is_named() -> None:
    text = (
        "services:\n  web:\n    image: a\n    depends_on: [api]\n  api:\n    image: a\n    depends_on: [db]\n"
        "  db:\n    image: a\n    depends_on: {web: {condition: service_started}}\n"
    )
    assert problems(text) == ["services.web.depends_on: dependency cycle: web → api → db → web"]


def test_self_dependency_and_cycle_through_links() -> None:
    text = (
        "services:\n  a:\n    image: x\n    depends_on: [a]\n  b:\n    image: x\n    links: [c]\n  c:\n    image: x\n"
        "    links: [b]\n"
    )
    assert problems(text) == [
        "services.a.depends_on: dependency cycle: a → a",
        "services.b.depends_on: dependency cycle: b → c → b",
    ]


def test_dependency_cycle_through_aliyun_depends() -> None:
    text = (
        "services:\n  web:\n    image: a\n    labels: {aliyun.depends: api}\n  api:\n    image: a\n"
        "    depends_on: [web]\n"
    )
    assert problems(text) == ["services.web.depends_on: dependency cycle: web → api → web"]


def test_unknown_keys() -> None:
    text = service("    foo: 1\n    deploy: {replicas: 1, bogus: 2}\n") + "bar: 2\n"
    assert problems(text) == [
        'bar: unknown top-level key "bar" (allowed: version, name, services, networks, volumes and x-* extensions)',
        'services.web.foo: unknown key "foo" in service "web"',
        "services.web.deploy.bogus: unknown key (allowed here: endpoint_mode, labels, mode, placement, replicas, "
        "resources, restart_policy, rollback_config, update_config)",
    ]


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("build: .", "Berth deploys images from a registry and never builds them; push the image and set image"),
        ("env_file: .env", "Berth cannot read files from your machine; put the variables under environment"),
        (
            "secrets: [db_password]",
            "Berth does not manage swarm secrets yet; pass them through environment or a volume",
        ),
        ("configs: [nginx_conf]", "Berth does not manage swarm configs yet; use a volume instead"),
        ("profiles: [debug]", "Berth deploys every service of an application; remove profiles"),
    ],
)
def test_keys_not_supported_by_berth(key: str, reason: str) -> None:
    name = key.split(":")[0]
    assert problems(service(f"    {key}\n")) == [f'services.web.{name}: "{name}" is not supported by Berth: {reason}']


def test_top_level_secrets_not_supported() -> None:
    assert problems(service("") + "secrets:\n  s:\n    file: ./s.txt\n") == [
        'secrets: "secrets" is not supported by Berth: Berth does not manage swarm secrets yet'
    ]


def test_variables_without_value_or_default_read_empty_with_a_warning() -> None:
    """As Compose: an unset variable without a default is an empty string and a warning (strict mode refuses)."""
    text = service(
        "    environment:\n      A: $UNSET_A\n      B: ${UNSET_B}\n      C: ${UNSET_C:-ok}\n      D: $UNSET_A\n"
    )
    loaded = load_with_warnings(text)
    assert loaded.model["services"]["web"]["environment"] == {"A": "", "B": "", "C": "ok", "D": ""}
    assert [str(w) for w in loaded.warnings] == [
        "services.web.environment.A: variable UNSET_A is not set and has no default: it reads as an empty string",
        "services.web.environment.B: variable UNSET_B is not set and has no default: it reads as an empty string",
    ]
    assert load(text) == loaded.model
    assert problems(text, strict_variables=True) == [
        "services.web.environment.A: variable UNSET_A is not set and has no default",
        "services.web.environment.B: variable UNSET_B is not set and has no default",
        "services.web.environment.D: variable UNSET_A is not set and has no default",
    ]
    assert load_with_warnings(text, env={"UNSET_A": "a", "UNSET_B": ""}).warnings == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [("200", 200), ("-1", -1), ("'64'", 64), ("1e3", 1000)],
)
def test_pids_limit(value: str, expected: int) -> None:
    assert load(service(f"    pids_limit: {value}\n"))["services"]["web"]["pids_limit"] == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "must be -1 (no limit) or a number of processes of 1 or more, not 0"),
        ("-2", "must be -1 (no limit) or a number of processes of 1 or more, not -2"),
        ("1.5", "must be an integer, not 1.5"),
        ("lots", "must be an integer, not 'lots'"),
        ("true", "must be an integer, not True"),
    ],
)
def test_pids_limit_refused(value: str, message: str) -> None:
    assert problems(service(f"    pids_limit: {value}\n")) == [f"services.web.pids_limit: {message}"]


def test_required_variable_with_custom_message() -> None:
    text = service("    environment:\n      - 'TOKEN=${TOKEN:?set TOKEN to the API token}'\n      - 'ID=${ID?}'\n")
    expected = [
        "services.web.environment[0]: required variable TOKEN is missing a value: set TOKEN to the API token",
        "services.web.environment[1]: required variable ID is missing a value",
    ]
    assert problems(text) == expected
    assert problems(text, strict_variables=False) == expected
    assert problems(text, env={"TOKEN": ""}) == expected
    assert load(text, env={"TOKEN": "t", "ID": ""})["services"]["web"]["environment"] == {"TOKEN": "t", "ID": ""}


def test_invalid_interpolation_syntax() -> None:
    assert problems(service("    labels: {a: '${VAR', b: '${1X}'}\n")) == [
        'services.web.labels.a: invalid interpolation format in "${VAR" (to write a literal $, use $$)',
        'services.web.labels.b: invalid interpolation format in "${1X}" (to write a literal $, use $$)',
    ]


def test_missing_image() -> None:
    assert problems("services:\n  web:\n    command: serve\n") == [
        'services.web.image: service "web" has no image; every service needs one (Berth never builds)'
    ]


def test_invalid_image_reference() -> None:
    assert problems("services:\n  web:\n    image: 'Nginx:latest; rm -rf /'\n") == [
        'services.web.image: "Nginx:latest; rm -rf /" is not a valid image reference (e.g. nginx:1.25)'
    ]


def test_extends_of_unknown_service_and_cycles() -> None:
    assert problems(service("    extends: base\n")) == [
        'services.web.extends: extends unknown service "base" (services of this file: web)'
    ]
    text = "services:\n  a:\n    extends: b\n    image: x\n  b:\n    extends: {service: a}\n"
    assert problems(text) == ["services.b.extends: circular extends: a → b → a"]
    assert problems(service("    extends: {service: x, file: other.yml}\n") + "  x:\n    image: y\n") == [
        "services.web.extends.file: extends.file is not supported by Berth: extend a service of the same file"
    ]


def test_references_to_undeclared_things() -> None:
    text = (
        service(
            "    volumes: [data:/data]\n    networks: [back]\n    depends_on: [db]\n    links: [cache]\n"
            "    volumes_from: [store]\n"
        )
        + "  side:\n    image: x\n    network_mode: service:ghost\n"
    )
    assert problems(text) == [
        'services.web.depends_on: depends on undefined service "db"',
        'services.web.links[0]: links to undefined service "cache"',
        'services.web.volumes_from[0]: takes volumes from undefined service "store"',
        'services.web.networks: network "back" is not declared under the top-level networks',
        'services.web.volumes[0]: named volume "data" is not declared under the top-level volumes',
        'services.side.network_mode: uses the network of undefined service "ghost"',
    ]


def test_invalid_values_are_all_reported() -> None:
    text = service(
        "    restart: sometimes\n    mem_limit: lots\n    cpus: -1\n    stop_grace_period: '90'\n"
        "    healthcheck: {test: [CURL, x], interval: 5}\n    volumes: ['~/x:/x', 'relative']\n    command: a && b\n"
    )
    assert problems(text) == [
        "services.web.restart: must be no, always, unless-stopped or on-failure[:N], not 'sometimes'",
        "services.web.mem_limit: must be a size such as 512m, 1g or a number of bytes, not 'lots'",
        "services.web.cpus: must be a number of zero or more, not -1",
        "services.web.stop_grace_period: must be a duration with a unit such as 10s, 1m30s or 2h, not '90'",
        'services.web.healthcheck.test: a list test must start with "CMD", "CMD-SHELL" or "NONE"',
        "services.web.healthcheck.interval: must be a duration with a unit such as 10s, 1m30s or 2h, not 5",
        "services.web.volumes[0]: '~/x': home-directory paths (~) are not supported by Berth; use an absolute path",
        "services.web.volumes[1]: the mount target must be an absolute path inside the container, not 'relative'",
        "services.web.command: the shell operator '&' is outside quotes: Compose would silently drop the rest of the "
        'command; use the list form, e.g. ["sh", "-c", "..."]',
    ]


def test_container_name_with_replicas_and_network_mode_with_networks() -> None:
    text = service("    container_name: web\n    scale: 2\n    network_mode: host\n    networks: [default]\n")
    assert problems(text) == [
        "services.web.container_name: a container name must be unique: it cannot be set on a service with 2 replicas",
        "services.web.networks: network_mode and networks cannot both be set",
    ]


def test_unsupported_version() -> None:
    assert problems('version: "1"\n' + service("")) == [
        "version: unsupported version '1': use 2.0 to 2.4, 3.0 to 3.9, or no version"
    ]


def test_multiple_files_yaml_problem_names_the_file() -> None:
    assert problems([service(""), "services:\n  web: [\n"]) == [
        "file 2 line 3: invalid YAML: did not find expected node content (while parsing a flow node)"
    ]


def test_no_services() -> None:
    assert problems("volumes:\n  data: {}\n") == [
        "services: no services are defined; an application needs at least one service"
    ]


def test_settings_that_contradict_each_other() -> None:
    text = service("    cpus: 1\n    mem_limit: 1g\n    deploy: {resources: {limits: {cpus: '0.5', memory: 512M}}}\n")
    assert problems(text) == [
        "services.web.cpus: cpus (1) and deploy.resources.limits.cpus (0.5) disagree; set only one of them",
        "services.web.mem_limit: mem_limit (1073741824) and deploy.resources.limits.memory (536870912) disagree; "
        "set only one of them",
    ]


def test_strings_must_be_strings_as_in_compose() -> None:
    assert problems(service("    user: 1000\n    deploy: {resources: {limits: {memory: 1000}}}\n")) == [
        "services.web.user: must be a string, not a number (quote it)",
        'services.web.deploy.resources.limits.memory: must be a string such as "512M", not a number',
    ]


def test_relative_binds_resolve_against_workdir_not_cwd() -> None:
    text = service("    volumes: ['./conf:/etc/app', '../shared:/shared']\n")
    default = load(text)["services"]["web"]["volumes"]
    assert [mount["source"] for mount in default] == ["/berth/project/conf", "/berth/shared"]
    elsewhere = load(text, workdir="/srv/apps/shop")["services"]["web"]["volumes"]
    assert [mount["source"] for mount in elsewhere] == ["/srv/apps/shop/conf", "/srv/apps/shared"]
