"""``visible_to`` is ``decide`` in SQL: for random policies, roles, request contexts and rows, the rows the SQL filter
keeps are exactly those ``decide`` allows, row by row, for every tenant-owned kind (accounts.decisions).

The rows have names that SQL pattern matching treats specially (``%``, ``_``, ``*``, ``?``, ``[``, ``\\``, upper and
lower case), the patterns are made from the rows' own resource names (so that they match some and miss others), and
the statements carry conditions on the address and MFA, Deny and Allow, and ``${acs:CurrentUser}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import policy as ram_policy
from accounts.decisions import Principal, Resource, decide
from accounts.models import Policy, RamGroup, User
from accounts.roles import ROLES
from apps.models import Application, ConfigSet, Container, Release, Service, Template
from clusters.models import Cluster, Node, NodeTask, RegistryCredential, UserCertificate
from console import audit, context
from console.models import OperationLog
from tests.conftest import PASSWORD, make_tenant

TRICKY = ["web", "Web", "a%b", "a_b", "ab", "a*b", "a?b", "[x]", "x", "dev", "back\\slash", "d%", "de_v"]

KINDS: dict[str, Any] = {
    "clusters": Cluster,
    "nodes": Node,
    "applications": Application,
    "containers": Container,
    "releases": Release,
    "node tasks": NodeTask,
    "certificates": UserCertificate,
    "registry credentials": RegistryCredential,
    "templates": Template,
    "config sets": ConfigSet,
    "users": User,
    "groups": RamGroup,
}

ACTIONS = [
    "cs:DescribeClusters",
    "cs:DescribeClusterNodes",
    "cs:DescribeApplications",
    "cs:UpdateApplication",
    "cs:DeleteApplication",
    "cs:CreateApplication",
    "cs:DescribeTemplates",
    "cs:DescribeConfigSets",
    "cs:DescribeRegistryCredentials",
    "cs:DescribeClusterCertificates",
    "cs:DescribeOperationLogs",
    "ram:GetUser",
    "ram:ListGroups",
    "ram:ListPolicies",
]
ACTION_PATTERNS = [
    "*",
    "cs:*",
    "ram:*",
    "cs:Describe*",
    "cs:Update*",
    "cs:Describe?pplications",
    "ram:Get*",
    "ram:List*",
]
CONDITIONS: list[dict[str, Any]] = [
    {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}},
    {"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}},
    {"Bool": {"acs:MFAPresent": "true"}},
    {"Bool": {"acs:MFAPresent": False}},
    {"StringLike": {"acs:CurrentUser": "d*"}},
]


class World:
    """Two tenants; acme has three clusters and rows of every kind with tricky names; ``dev`` is the sub-account."""

    def __init__(self) -> None:
        self.owner = make_tenant("acme")
        self.stranger = make_tenant("globex")
        self.dev = User.objects.create_user(self.owner.tenant, "dev", PASSWORD)
        self.other = User.objects.create_user(self.owner.tenant, "Web", PASSWORD)
        tenant = self.owner.tenant
        self.clusters = [
            Cluster.objects.create(tenant=tenant, name="c1", region="cn-hangzhou"),
            Cluster.objects.create(tenant=tenant, name="c2", region="eu_%west"),
            Cluster.objects.create(tenant=tenant, name="c3", region="Cn-*"),
            Cluster.objects.create(tenant=self.stranger.tenant, name="theirs", region="cn-hangzhou"),
        ]
        for number, cluster in enumerate(self.clusters):
            owner = self.owner if cluster.tenant_id == tenant.pk else self.stranger
            node = Node.objects.create(
                cluster=cluster,
                name=TRICKY[number * 3 % len(TRICKY)],
                endpoint=f"unix:///nonexistent-{number}.sock",
                publish_ip="127.0.0.1",
            )
            Node.objects.create(
                cluster=cluster, name=f"n{number}", endpoint=f"unix:///other-{number}.sock", publish_ip="127.0.0.1"
            )
            NodeTask.objects.create(cluster=cluster, node=node, kind="reset")
            UserCertificate.objects.create(
                cluster=cluster,
                user=owner,
                user_login="x",
                serial=f"{number:x}",
                fingerprint="f",
                not_after=timezone.now(),
            )
            for index, name in enumerate(TRICKY if number == 0 else TRICKY[number : number + 4]):
                creator = [self.dev, self.other, None][index % 3] if owner == self.owner else owner
                self.application(cluster, name, creator, node)
            audit.record("cs:CreateApplication", actor=owner, target=f"in {cluster.name}", cluster_id=cluster.pk)
        for owner in (self.owner, self.stranger):
            for name in TRICKY[:6]:
                Template.objects.create(tenant=owner.tenant, name=name, compose="services: {}\n")
                ConfigSet.objects.create(tenant=owner.tenant, name=name)
                RegistryCredential.objects.create(tenant=owner.tenant, registry=f"{name}.io", username="u")
            audit.record("cs:TenantWide", actor=owner, target="no cluster")
        for name in TRICKY[:5]:
            User.objects.create(tenant=tenant, name=f"u{name}", login=f"u{name}@acme")
            group = RamGroup.objects.create(
                tenant=tenant, name=f"g-{name}", auth_group=self._auth_group(f"acme-{name}")
            )
            Policy.objects.create(tenant=tenant, name=f"p-{name}")
        audit.record("cs:Elsewhere", actor=self.owner, target="gone cluster", cluster_id=99999)
        self.group = group

    @staticmethod
    def _auth_group(name: str) -> Any:
        from django.contrib.auth.models import Group

        return Group.objects.create(name=name)

    def application(self, cluster: Cluster, name: str, creator: User | None, node: Node) -> Application:
        app = Application.objects.create(tenant=cluster.tenant, cluster=cluster, name=name, created_by=creator)
        service = Service.objects.create(application=app, name="s", image="local/busybox:1")
        Container.objects.create(service=service, node=node, index=1, name=f"{name}_s_1")
        Release.objects.create(application=app, kind="deploy")
        return app

    def names(self) -> list[str]:
        """Every resource name of acme's rows (what patterns are made from)."""
        found = []
        for model in KINDS.values():
            found.extend(res.name for _pk, res in model.objects.filter(pk__in=self.scoped(model)).resource_rows())
        found.extend(
            f"acs:ram:*:{self.owner.tenant_id}:policy/{n}" for n in Policy.objects.values_list("name", flat=True)
        )
        return sorted(set(found))

    def scoped(self, model: Any) -> Any:
        """The pks of the model's rows in acme (the tenant boundary, which the SQL filter puts first)."""
        path = model.objects.none().tenant_path
        return model.objects.filter(**{path: self.owner.tenant_id}).values("pk")


@pytest.fixture
def world(db: None) -> World:
    return World()


@pytest.fixture
def names(world: World) -> list[str]:
    return world.names()


@contextmanager
def request_as(ip: str, mfa: bool) -> Iterator[None]:
    tokens = [context.source_ip.set(ip), context.mfa_present.set(mfa)]
    try:
        yield
    finally:
        context.mfa_present.reset(tokens[1])
        context.source_ip.reset(tokens[0])


def expected(world: World, user: User, model: Any, action: str) -> set[int]:
    """What ``decide`` allows, row by row, among the tenant's rows."""
    rows = model.objects.filter(pk__in=world.scoped(model)).resource_rows()
    return {pk for pk, resource in rows if decide(user, action, resource).allowed}


def expected_policies(user: User, action: str) -> set[int]:
    scoped = Policy.objects.filter(Q(tenant_id=user.tenant_id) | Q(tenant__isnull=True))
    return {
        pk
        for pk, name in scoped.values_list("pk", "name")
        if decide(user, action, f"acs:ram:*:{user.tenant_id}:policy/{name}").allowed
    }


def expected_log(user: User, action: str) -> set[int]:
    """The operation log's rule as it was written before it was SQL: per cluster, then the tenant-wide log."""
    clusters = dict(Cluster.objects.filter(tenant_id=user.tenant_id).resource_rows())
    allowed = {
        pk
        for pk, res in clusters.items()
        if decide(user, action, Resource(f"{res.name}/operationlog", (res.name,), cluster_id=pk)).allowed
    }
    whole = decide(user, action, Resource(f"acs:cs:*:{user.tenant_id}:operationlog")).allowed
    return {
        pk
        for pk, cluster_id in OperationLog.objects.filter(tenant_id=user.tenant_id).values_list("pk", "cluster_id")
        if cluster_id in allowed or (whole and (cluster_id is None or cluster_id not in clusters))
    }


@st.composite
def patterns(draw: Callable[..., Any], names: list[str], user: str) -> str:
    """A resource pattern made from one of the rows' names: cut, with wildcards, case changed, the user's name
    replaced by ``${acs:CurrentUser}``, or plain ``*``."""
    if draw(st.integers(0, 12)) == 0:
        return "*"
    last = {name: name.rsplit("/", 1)[-1] for name in names}
    special = sorted({end for end in last.values() if any(char in end for char in "%_*?[\\")})
    if special and draw(st.booleans()):  # a name whose own part has characters SQL patterns treat specially
        end = draw(st.sampled_from(special))
        text = draw(st.sampled_from([name for name in names if last[name] == end]))
    else:
        text = draw(st.sampled_from(names))
    if draw(st.booleans()):
        text += "*"
    for _step in range(draw(st.integers(0, 3))):
        if not text:
            break
        at = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(at, min(len(text), at + 12)))
        op = draw(st.sampled_from(["star", "one", "case", "cut", "user", "literal"]))
        if op == "star":
            text = text[:at] + "*" + text[end:]
        elif op == "one":
            text = text[:at] + "?" + text[at + 1 :]
        elif op == "case":
            text = text[:at] + text[at].swapcase() + text[at + 1 :]
        elif op == "cut":
            text = text[:at] + "*"
        elif op == "user" and f"/{user}" in text:
            text = text.replace(f"/{user}", "/${acs:CurrentUser}")
        elif op == "literal":
            text = text[:at] + draw(st.sampled_from(["%", "_", "[", "\\", "x"])) + text[at:]
    return text or "*"


@st.composite
def documents(draw: Callable[..., Any], names: list[str], user: str) -> dict[str, Any]:
    statements = []
    for _index in range(draw(st.integers(1, 4))):
        statement: dict[str, Any] = {
            "Effect": draw(st.sampled_from(["Allow", "Allow", "Deny"])),
            "Action": draw(st.lists(st.sampled_from(ACTION_PATTERNS + ACTIONS), min_size=1, max_size=2)),
            "Resource": draw(st.lists(patterns(names, user), min_size=1, max_size=3)),
        }
        if draw(st.integers(0, 3)) == 0:
            statement["Condition"] = draw(st.sampled_from(CONDITIONS))
        statements.append(statement)
    return {"Version": "1", "Statement": statements}


def principal_of(world: World, docs: list[dict[str, Any]], roles: dict[int, list[str]]) -> Principal:
    policies = [ram_policy.Attached(f"p{n}", "v1", ram_policy.parse(doc)) for n, doc in enumerate(docs)]
    clusters = [c.pk for c in world.clusters]
    return Principal(policies, {clusters[index]: slugs for index, slugs in roles.items()})


EXAMPLES = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
}
IN_CLUSTERS = ["clusters", "nodes", "applications", "containers", "releases"]
APP_ACTIONS = ["cs:DescribeApplications", "cs:UpdateApplication", "cs:DeleteApplication", "cs:DescribeClusters"]


def check(world: World, names: list[str], data: st.DataObject, kinds: list[str], actions: list[str]) -> None:
    """Draw policies, roles, a request and extra rows; then every kind agrees with ``decide`` for every action."""
    docs = data.draw(st.lists(documents(names, "dev"), min_size=0, max_size=3), label="policies")
    roles = data.draw(
        st.dictionaries(st.integers(0, 3), st.lists(st.sampled_from(list(ROLES)), min_size=1, max_size=2), max_size=3),
        label="roles",
    )
    ip = data.draw(st.sampled_from(["", "10.1.2.3", "192.0.2.1"]), label="address")
    mfa = data.draw(st.booleans(), label="mfa")
    extra = data.draw(st.lists(st.sampled_from(TRICKY), max_size=2, unique=True), label="more applications")
    user = world.dev
    user._berth_principal = principal_of(world, docs, roles)
    with transaction.atomic(), request_as(ip, mfa):
        node = Node.objects.filter(cluster=world.clusters[1]).first()
        for name in extra:  # rows made for this example (rolled back after it)
            world.application(world.clusters[1], f"{name}-{len(extra)}", world.dev, node)
        for action in actions:
            for label in kinds:
                model = KINDS[label]
                shown = set(model.objects.visible_to(user, action).values_list("pk", flat=True))
                assert shown == expected(world, user, model, action), (label, action, docs, roles)
            if len(kinds) == len(KINDS):
                shown = set(Policy.objects.visible_to(user, action).values_list("pk", flat=True))
                assert shown == expected_policies(user, action), ("policies", action, docs)
                shown = set(OperationLog.objects.visible_to(user, action).values_list("pk", flat=True))
                assert shown == expected_log(user, action), ("operation log", action, docs, roles)
        transaction.set_rollback(True)


@settings(max_examples=40, **EXAMPLES)
@given(data=st.data())
def test_the_sql_filter_and_decide_agree_row_by_row(world: World, names: list[str], data: st.DataObject) -> None:
    """Every kind (and the policies and the operation log), for one to three actions of every service."""
    actions = data.draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3, unique=True), label="actions")
    check(world, names, data, list(KINDS), actions)


@settings(max_examples=60, **EXAMPLES)
@given(data=st.data())
def test_what_is_inside_a_cluster_agrees_with_decide(world: World, names: list[str], data: st.DataObject) -> None:
    """Clusters and what they hold, for reading and changing applications: Deny on the cluster, the roles (the
    developer's actions on what it created)."""
    check(world, names, data, IN_CLUSTERS, APP_ACTIONS)


def test_sql_names_are_the_resource_names(world: World) -> None:
    """The name the database builds is the one ``resource_rows`` (and so ``decide``) uses, for every kind."""
    for label, model in KINDS.items():
        queryset = model.objects.all()
        columns = queryset.resource_columns()
        built = dict(queryset.annotate(_name=columns.name).values_list("pk", "_name"))
        assert built, label
        for pk, resource in queryset.resource_rows():
            assert built[pk] == resource.name, label
        if columns.ancestors:
            parents = dict(queryset.annotate(_parent=columns.ancestors[0]).values_list("pk", "_parent"))
            assert all(parents[pk] == res.ancestors[0] for pk, res in queryset.resource_rows()), label


def test_a_check_of_one_object_is_one_query_whatever_the_tenant_holds(world: World) -> None:
    """``authorize`` and friends filter by pk in the same SQL statement as the permission: no list of ids."""
    user = world.dev
    user._berth_principal = principal_of(
        world,
        [{"Version": "1", "Statement": [{"Effect": "Allow", "Action": "cs:*", "Resource": "*/application/*"}]}],
        {},
    )
    app = Application.objects.filter(tenant=world.owner.tenant).first()
    with CaptureQueriesContext(connection) as queries:
        assert Application.objects.visible_to(user).filter(pk=app.pk).exists()
    assert len(queries) == 1
    assert "IN (" not in queries[0]["sql"]


def test_a_deny_on_the_cluster_hides_what_is_inside_it(world: World) -> None:
    cluster = world.clusters[1]
    document = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "cs:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "cs:*", "Resource": cluster.resource_name},
        ],
    }
    world.dev._berth_principal = principal_of(world, [document], {})
    shown = set(Application.objects.visible_to(world.dev).values_list("cluster_id", flat=True))
    assert shown == {world.clusters[0].pk, world.clusters[2].pk}


def test_pattern_characters_of_sql_are_literal(world: World) -> None:
    """A policy on application ``a%b`` or ``a_b`` does not reach ``ab`` or ``a*b`` (LIKE/GLOB escaping)."""
    cluster = world.clusters[0]
    node = Node.objects.filter(cluster=cluster).first()
    for name in ("a%b", "a_b", "ab", "a*b", "[x]", "x"):
        if not Application.objects.filter(cluster=cluster, name=name).exists():
            world.application(cluster, name, None, node)
    for name, others in (("a%b", {"ab", "a*b", "a_b"}), ("a_b", {"ab", "a%b", "a*b"}), ("[x]", {"x"})):
        pattern = f"{cluster.resource_name}/application/{name}*"
        document = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "cs:*", "Resource": pattern}]}
        world.dev._berth_principal = principal_of(world, [document], {})
        shown = set(Application.objects.visible_to(world.dev).values_list("name", flat=True))
        assert name in shown
        assert not shown & others, (name, shown)


def test_case_matters_in_resource_names(world: World) -> None:
    cluster = world.clusters[0]
    pattern = f"{cluster.resource_name}/application/W*"
    document = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "cs:*", "Resource": pattern}]}
    world.dev._berth_principal = principal_of(world, [document], {})
    assert set(Application.objects.visible_to(world.dev).values_list("name", flat=True)) == {"Web"}


def test_the_tenant_boundary_holds_for_an_allow_of_everything(world: World) -> None:
    document = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    world.dev._berth_principal = principal_of(world, [document], {0: ["admin"]})
    for label, model in KINDS.items():
        tenants = set(model.objects.visible_to(world.dev).values_list(model.objects.none().tenant_path, flat=True))
        assert tenants <= {world.owner.tenant_id}, label
