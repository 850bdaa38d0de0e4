"""The routing service's pure parts (issue 13): the HAProxy configuration builder, the Runtime API commands that take
a router from one server set to another, and the domain claims of ``aliyun.routing.port_N``. Property tests."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.compose import claims
from routing import haproxy, routers

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
DOMAIN = st.lists(LABEL, min_size=2, max_size=4).map(".".join)
PATH = st.one_of(st.just("/"), st.lists(st.from_regex(r"[a-z0-9_.~-]{1,8}", fullmatch=True), min_size=1, max_size=3))
PATH = PATH.map(lambda p: p if isinstance(p, str) else "/" + "/".join(p)).filter(lambda p: claims.check_path(p) is None)
ADDRESS = st.tuples(*[st.integers(1, 254)] * 2).map(lambda t: f"10.201.{t[0]}.{t[1]}")
SERVER = st.builds(
    haproxy.Server,
    name=st.from_regex(r"[a-z]{1,6}_[a-z]{1,6}_[1-9]", fullmatch=True),
    address=ADDRESS,
    port=st.integers(1, 65535),
    weight=st.integers(0, 100),
)


@st.composite
def router_configs(draw: st.DrawFn) -> haproxy.Router:
    pairs = draw(st.lists(st.tuples(DOMAIN, PATH), min_size=0, max_size=6, unique=True))
    backends, routes = [], []
    for domain, path in pairs:
        name = haproxy.backend_name(domain, path)
        servers = draw(st.lists(SERVER, max_size=5, unique_by=lambda s: s.name))
        backends.append(
            haproxy.Backend(
                name,
                tuple(servers),
                sticky=draw(st.booleans()),
                check_path=draw(st.one_of(st.none(), PATH)),
                title=f"{domain}{path}",
            )
        )
        https = draw(st.booleans())
        routes.append(haproxy.Route(domain, path, name, https, https and draw(st.booleans())))
    return haproxy.Router(
        bind="0.0.0.0",  # noqa: S104
        port=draw(st.integers(1024, 65535)),
        http_port=draw(st.sampled_from([None, 80])),
        https_port=draw(st.sampled_from([None, 443])),
        certificates=draw(st.sampled_from(["", "0123456789abcdef"])),
        routes=tuple(routes),
        backends=tuple(backends),
        cookie_key="k3y",
    )


@given(router_configs(), st.randoms())
def test_the_text_depends_on_what_is_served_not_on_the_order_it_is_given_in(
    config: haproxy.Router, shuffle: random.Random
) -> None:
    routes, backends = list(config.routes), list(config.backends)
    shuffle.shuffle(routes)
    shuffle.shuffle(backends)
    backends = [
        haproxy.Backend(b.name, tuple(shuffle.sample(b.servers, len(b.servers))), b.sticky, b.check_path, title=b.title)
        for b in backends
    ]
    again = haproxy.Router(**{**config.__dict__, "routes": tuple(routes), "backends": tuple(backends)})
    assert haproxy.build(again) == haproxy.build(config)


@given(router_configs())
def test_every_route_is_served_and_the_longest_path_of_a_domain_comes_first(config: haproxy.Router) -> None:
    text = haproxy.build(config)
    lines = text.splitlines()
    order = [line for line in lines if line.startswith("    http-request set-var(txn.route) ")]
    assert len(order) == len(config.routes) == len([line for line in lines if line.startswith("    use_backend ")])
    position = {line.split()[2][4:-1]: index for index, line in enumerate(order)}  # str(<backend>)
    tls = bool(config.https_port and config.certificates)
    redirected = {line.split()[-2] for line in lines if "http-request redirect location " in line}
    assert redirected == {r.backend for r in config.routes if tls and r.https and r.redirect}
    not_over_tls = {line.split()[1] for line in lines if line.startswith("    use_backend ") and "!{ ssl_fc }" in line}
    assert not_over_tls == {r.backend for r in config.routes if tls and not r.https}
    for route in config.routes:
        assert f"backend {route.backend}" in lines
        for other in config.routes:
            if other.domain == route.domain and len(other.path) > len(route.path):
                assert position[other.backend] < position[route.backend]


@given(router_configs())
def test_the_servers_read_back_are_the_servers_given(config: haproxy.Router) -> None:
    expected = {(b.name, s.name): (s.address, s.port, s.weight) for b in config.backends for s in b.servers}
    assert haproxy.servers_of(haproxy.build(config)) == expected


@given(router_configs(), st.data())
def test_server_changes_keep_the_structure_and_the_runtime_commands_reach_the_new_servers(
    config: haproxy.Router, data: st.DataObject
) -> None:
    changed = []
    for backend in config.backends:
        kept = [s for s in backend.servers if data.draw(st.booleans())]
        kept = [haproxy.Server(s.name, s.address, s.port, data.draw(st.integers(0, 100))) for s in kept]
        added = data.draw(st.lists(SERVER, max_size=3, unique_by=lambda s: s.name))
        names = {s.name for s in kept}
        changed.append(
            haproxy.Backend(
                backend.name,
                tuple(kept + [s for s in added if s.name not in names]),
                backend.sticky,
                backend.check_path,
                title=backend.title,
            )
        )
    new = haproxy.Router(**{**config.__dict__, "backends": tuple(changed)})
    old_text, new_text = haproxy.build(config), haproxy.build(new)
    if any(b.sticky and set(b.servers) != set(c.servers) for b, c in zip(config.backends, changed, strict=True)):
        assert haproxy.structure(old_text) != haproxy.structure(new_text)  # a sticky backend's servers: a reload
        return
    assert haproxy.structure(old_text) == haproxy.structure(new_text)
    # Play the commands on the old server set, as HAProxy would.
    servers = dict(haproxy.servers_of(old_text))
    for command in routers.server_commands(old_text, new_text):
        words = command.split()
        if command.startswith("del server "):
            backend, name = words[2].split("/")
            del servers[(backend, name)]
        elif command.startswith("add server "):
            backend, name = words[2].split("/")
            address, _sep, port = words[3].rpartition(":")
            servers[(backend, name)] = (address, int(port), int(words[5]))
        elif command.startswith("set server ") and words[3] == "weight":
            backend, name = words[2].split("/")
            servers[(backend, name)] = (*servers[(backend, name)][:2], int(words[4]))
    assert servers == haproxy.servers_of(new_text)


@pytest.mark.parametrize(
    "hostile",
    ["web.example.com\n    bind 0.0.0.0:22", "a b", "x}", "web.example.com { always_true }", "#comment"],
)
def test_nothing_that_could_change_the_configuration_gets_into_it(hostile: str) -> None:
    backend = haproxy.Backend("route_x", (haproxy.Server("a_b_1", "10.0.0.1", 80),))
    with pytest.raises(ValueError, match="cannot go into"):
        haproxy.build(haproxy.Router("0.0.0.0", routes=(haproxy.Route(hostile, "/", "route_x"),), backends=(backend,)))  # noqa: S104
    with pytest.raises(ValueError, match="cannot go into"):
        haproxy.build(
            haproxy.Router("0.0.0.0", routes=(haproxy.Route("a.b", "/" + hostile, "route_x"),), backends=(backend,))  # noqa: S104
        )


def test_a_sticky_cookie_is_the_same_on_every_router_and_says_nothing_of_the_container() -> None:
    backend = haproxy.Backend("route_a", (haproxy.Server("shop_web_1", "10.201.1.4", 80),), sticky=True)
    texts = {
        haproxy.build(haproxy.Router(bind, routes=(haproxy.Route("a.test", "/", "route_a"),), backends=(backend,)))
        for bind in ("0.0.0.0", "0.0.0.0")  # noqa: S104
    }
    assert len(texts) == 1
    value = haproxy.cookie_of("shop_web_1", "berth")
    assert f"server shop_web_1 10.201.1.4:80 weight 100 cookie {value}" in texts.pop()
    assert "shop" not in value and "10.201" not in value and value != haproxy.cookie_of("shop_web_1", "other")


def test_a_path_takes_itself_and_what_is_below_it_not_its_siblings() -> None:
    text = haproxy.build(
        haproxy.Router(
            "0.0.0.0",  # noqa: S104
            routes=(haproxy.Route("www.example.test", "/api", "route_a"),),
            backends=(haproxy.Backend("route_a"),),
        )
    )
    assert (
        "{ path -m str /api } || !{ var(txn.route) -m found } { var(txn.host) -m str www.example.test } "
        "{ path -m beg /api/ }"
    ) in text


# --- claims ------------------------------------------------------------------------------------------------------


@given(DOMAIN, PATH, st.booleans())
def test_a_domain_and_path_claim_reads_back(domain: str, path: str, https: bool) -> None:
    entry = f"{'https' if https else 'http'}://{domain}{'' if path == '/' else path}"
    claim, why = claims.parse_entry(entry, 80, "root.test")
    assert why is None and claim == claims.Claim(domain, path, 80, https)
    assert claim.address == entry


def test_a_bare_prefix_goes_under_the_root_domain_and_several_entries_split_on_semicolons() -> None:
    found, refused = claims.claims_of(
        {"aliyun.routing.port_80": "web; www.example.test/api ;https://secure.example.test"}, "local.localhost"
    )
    assert refused == []
    assert [c.address for c in found] == [
        "http://web.local.localhost",
        "http://www.example.test/api",
        "https://secure.example.test",
    ]
    assert claims.default_root("My_Cluster") == "my-cluster.localhost"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("bad_domain!.com", "is not a hostname"),
        ("www.example.test/a b", "has a space in it"),
        (".web", "a prefix is one DNS label without dots"),
        ("web.", "a prefix is one DNS label without dots"),
        ("a..b", "has an empty label"),
        ("ftp://x.test", "the scheme must be http:// or https://"),
        ("x.test:8080", "a route names no port"),
        ("x.test/a/../b", "'.' or '..' segment"),
        ('x.test/a"b', "may hold only"),
        ("-web", "is not a DNS label"),
        ("", "needs at least one domain"),
    ],
)
def test_malformed_claims_are_refused_with_a_precise_message(value: str, why: str) -> None:
    found, refused = claims.claims_of({"aliyun.routing.port_80": value}, "local.localhost")
    assert found == [] and len(refused) == 1
    assert refused[0].startswith("label aliyun.routing.port_80") and why in refused[0], refused


@settings(max_examples=200)
@given(st.text(max_size=60))
def test_whatever_a_label_says_a_claim_is_safe_for_the_configuration(value: str) -> None:
    found, _refused = claims.claims_of({"aliyun.routing.port_80": value}, "local.localhost")
    for claim in found:
        text = haproxy.build(
            haproxy.Router(
                "0.0.0.0",  # noqa: S104
                routes=(haproxy.Route(claim.domain, claim.path, "route_a"),),
                backends=(haproxy.Backend("route_a"),),
            )
        )
        assert text.count("use_backend") == 1


def test_the_ports_a_service_exposes() -> None:
    spec = {"ports": [{"target": 80, "published": "8080"}, {"target": "443"}], "expose": ["9000", "7000-7002/tcp"]}
    assert claims.exposed_ports(spec) == {80, 443, 9000, 7000, 7001, 7002}
