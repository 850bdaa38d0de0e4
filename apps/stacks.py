"""Compose applications: from a template and variables to services, a placement, and a plan.

``prepare`` loads and checks a Compose text (the loader, the cluster's security policy), ``placement``
asks the scheduler where every replica goes (the deploy task uses the same function), and ``plan``
says what applying it would do: containers to create, recreate and remove, on which nodes, image
changes and port conflicts. ``apply`` writes the desired state and a version, then queues the release.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils.translation import gettext as _

from apps import compose, converge, security
from apps.compose import claims
from apps.masking import Masker, secret_named
from apps.models import MAX_SCALE, Application, AppVersion, ConfigSet, Container, Service
from apps.scheduler import (
    NodeCapacity,
    PlacementError,
    Rule,
    ServiceDemand,
    order_services,
    place,
    place_application,
)
from clusters import network
from clusters.models import Cluster, Network, Node

PLAN_CHECKS: list[Callable[[Cluster, dict[str, Any], str], list[str]]] = []
"""More refusals of a Compose model for a cluster (``check(cluster, model, application name)``), from the layers
above this one (the routing service's domain claims): they hand them over in their app's ``ready``."""
PLANNED_SERVICE: list[Callable[[ServiceRow, list[Container], str, dict[str, Any]], None]] = []
"""Called for each service of an update's plan with its row, the running containers the update replaces, the
fingerprint they will be made from, and the plan's item of the service, which it may add to (the releases layer adds
the rolling steps: the batches and their order)."""
SERVICES_WRITTEN: list[Callable[[Application], None]] = []
"""Called once an application's Service rows say what its Compose file says (the routing service's routes)."""


@dataclass
class ServiceRow:
    """One service as Berth stores it, derived from the normalized model."""

    name: str
    image: str
    scale: int
    is_global: bool
    rules: list[dict[str, Any]]
    depends_on: list[str]
    latest_image: bool
    reschedule: bool
    spec: dict[str, Any]
    cpus: float = 0.0
    memory: int = 0
    pinned_image: str = ""  # repo@digest a rollback restores; empty: the image's tag

    @property
    def runs(self) -> str:
        """The image reference containers are made from."""
        return self.pinned_image or self.image


def pin(rows: list[ServiceRow], digests: dict[str, str]) -> list[ServiceRow]:
    """Rows that run exactly the recorded ``digests`` (service → ``repo@sha256:…``) of the same repository.

    A digest without a repository (an image that came from no registry) cannot be pulled elsewhere
    and is not pinned: those services run their tag.
    """
    from clusters.docker_host import split_reference

    pinned = []
    for row in rows:
        digest = digests.get(row.name, "")
        same_repo = "@" in digest and split_reference(digest)[0] == split_reference(row.image)[0]
        pinned.append(replace(row, pinned_image=digest if same_repo else ""))
    return pinned


@dataclass
class Prepared:
    """A Compose text checked and understood: the model, its services, the variables used, the masker every
    message made from it passes through (its secret values never leave), and the loader's warnings (an unset
    variable read as empty, an Alibaba label Berth does not know), shown with the plan."""

    model: dict[str, Any]
    services: list[ServiceRow]
    variables: dict[str, str]
    secret_values: list[str] = field(default_factory=list)
    masker: Masker = field(default_factory=Masker)
    warnings: list[str] = field(default_factory=list)


def config_values(config_set: ConfigSet | None) -> tuple[dict[str, str], list[str]]:
    """A config set's variables (secrets unsealed in memory) and the list of secret values."""
    from clusters.pki import unseal

    values: dict[str, str] = {}
    secrets: list[str] = []
    for key, item in ((config_set.variables if config_set else {}) or {}).items():
        value = unseal(item["value"], secret=settings.BERTH_ENCRYPTION_KEY) if item.get("secret") else item["value"]
        values[key] = value
        if item.get("secret") and value:
            secrets.append(value)
    return values, secrets


def _rule_of(hint: Any) -> dict[str, Any]:
    key = hint.key
    if key.startswith("node.labels."):
        key = key[len("node.labels.") :]
    return {"kind": hint.kind, "key": key, "op": hint.op, "value": hint.value, "soft": hint.soft}


def _bytes(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def rows_of(model: dict[str, Any]) -> list[ServiceRow]:
    """Services of a model, with their scale, rules, dependencies and reservations."""
    rows = []
    for name, service in (model.get("services") or {}).items():
        hints = compose.scheduling_hints(model, name)
        labels = compose.aliyun_labels(model, name)
        depends = list((service.get("depends_on") or {}).keys()) + list(labels.depends or ())
        reservations = ((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
        rows.append(
            ServiceRow(
                name=name,
                image=service["image"],
                scale=compose.service_scale(model, name),
                is_global=compose.is_global(model, name),
                rules=[_rule_of(h) for h in (*hints.constraints, *hints.affinities)],
                depends_on=sorted(set(depends)),
                latest_image=bool(labels.latest_image),
                reschedule=hints.reschedule_on_node_failure,
                spec=service,
                cpus=float(reservations.get("cpus") or 0),
                memory=_bytes(reservations.get("memory")),
            )
        )
    return rows


def masker_for(config_set: ConfigSet | None, variables: dict[str, str] | None = None) -> Masker:
    """What must never be shown of an application's model: its config set's secret values, and the values of
    variables whose names say they are secret."""
    base, secrets = config_values(config_set)
    return Masker.of(secrets, secret_named({**base, **(variables or {})}))


def masker_of(app: Application) -> Masker:
    """The masker of an application as it runs now (its config set and its current version's variables)."""
    return maskers_of([app])[app.pk]


def maskers_of(apps: list[Application]) -> dict[int, Masker]:
    """``masker_of`` of several applications in two queries (their config sets are best select_related)."""
    current = {
        v.application_id: v
        for v in AppVersion.objects.filter(application__in=[a.pk for a in apps], number=F("application__version"))
    }
    return {a.pk: masker_for(a.config_set, version_variables(current[a.pk]) if a.pk in current else {}) for a in apps}


def policy_refusals(actor: Any, cluster: Cluster, model: dict[str, Any], project: str) -> list[str]:
    """The cluster's security policy for ``actor``: what of ``model`` it may not run (the primary account may;
    no actor, as for a release whose actor was deleted, is held to the policy)."""
    if actor is not None and actor.is_primary:
        return []
    return security.refusals(model, cluster.security_policy, project)


def stored_model(app: Application) -> dict[str, Any]:
    """The application's services as stored (what a scale or a redeploy makes containers from)."""
    return {"name": app.name, "services": {s.name: s.spec for s in app.services.all() if s.spec}}


def prepare(
    actor: Any, cluster: Cluster, name: str, text: str, variables: dict[str, str], config_set: ConfigSet | None
) -> Prepared:
    """Load the Compose text with the variables (config set, then the given ones) and check the policy.

    Errors leave masked: a value interpolated into a wrong field never echoes a secret.
    """
    base, secrets = config_values(config_set)
    env = {**base, **{k: str(v) for k, v in (variables or {}).items()}}
    masker = Masker.of(secrets, secret_named(env))
    try:
        loaded = compose.load_with_warnings(text, env=env, project=name)
    except compose.ComposeError as exc:
        raise ValidationError({"compose": [masker.text(str(p)) for p in exc.errors]}) from exc
    model = loaded.model
    refused = policy_refusals(actor, cluster, model, name)
    if refused:
        raise ValidationError({"compose": [masker.text(r) for r in refused]})
    unjoinable = resolve_networks(cluster, model, name)
    unjoinable += [refusal for check in PLAN_CHECKS for refusal in check(cluster, model, name)]
    if unjoinable:
        raise ValidationError({"compose": [masker.text(r) for r in unjoinable]})
    rows = rows_of(model)
    crowded = [
        _("services.%(name)s: at most %(max)s containers per service, not %(scale)s")
        % {"name": r.name, "max": MAX_SCALE, "scale": r.scale}
        for r in rows
        if not r.is_global and r.scale > MAX_SCALE
    ]
    if crowded:
        raise ValidationError({"compose": crowded})
    return Prepared(model, rows, env, secrets, masker, [masker.text(str(w)) for w in loaded.warnings])


def capacities(cluster: Cluster, app: Application | None, exclude: set[int] = frozenset()) -> list[NodeCapacity]:
    """The ready nodes as the scheduler sees them (this application's containers counted per service)."""
    nodes = list(Node.objects.filter(cluster=cluster, state=Node.State.READY).exclude(pk__in=exclude).order_by("id"))
    own: dict[int, dict[str, int]] = {}
    names: dict[int, list[str]] = {}
    if app is not None:
        for c in Container.objects.filter(service__application=app).select_related("service"):
            own.setdefault(c.node_id, {}).setdefault(c.service.name, 0)
            own[c.node_id][c.service.name] += 1
            names.setdefault(c.node_id, []).append(c.name)
    result = []
    for n in nodes:
        info = n.info or {}
        result.append(
            NodeCapacity(
                id=n.id,
                name=n.name,
                zone=n.zone,
                labels=n.labels,
                containers=n.containers.count(),
                cpus=float(info.get("cpus") or 0),
                memory=int(info.get("memory") or 0),
                services=own.get(n.id, {}),
                containers_names=tuple(names.get(n.id, [])),
                hostname=str(info.get("hostname") or n.name),
            )
        )
    return result


def _fixed_port(spec: dict[str, Any]) -> int | None:
    for port in spec.get("ports") or []:
        published = port.get("published")
        if published and str(published).isdigit():
            return int(published)
    return None


def rows_of_services(services: list[Service]) -> list[ServiceRow]:
    """Stored services as the scheduler's rows: the same rules, reservations and fixed port the deploy used
    (``rows_of`` reads them from a model; this reads what was stored from it)."""
    names = {x.name for x in services}
    rows = []
    for s in services:
        reservations = ((s.spec.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
        legacy = {"ports": [{"target": s.container_port, "published": str(s.host_port)}]} if s.host_port else {}
        rows.append(
            ServiceRow(
                name=s.name,
                image=s.image,
                scale=s.scale,
                is_global=s.is_global,
                rules=s.rules,
                depends_on=[d for d in s.depends_on if d in names],
                latest_image=s.latest_image,
                reschedule=s.reschedule_on_node_failure,
                spec=s.spec or legacy,
                cpus=float(reservations.get("cpus") or 0),
                memory=_bytes(reservations.get("memory")),
                pinned_image=s.pinned_image,
            )
        )
    return rows


def demand_of(row: ServiceRow, wanted: list[int], placed: dict[int, int]) -> ServiceDemand:
    """What the scheduler must place for one service: the replicas ``wanted`` (indexes), beside those already
    ``placed`` (index → node), under the service's rules, reservations and fixed host port. Deploy, scale, update,
    drain and failover all ask the scheduler through this, so none of them can forget a rule."""
    return ServiceDemand(
        row.name,
        wanted,
        placed,
        _fixed_port(row.spec),
        tuple(Rule(**r) for r in row.rules),
        row.cpus,
        row.memory,
        row.is_global,
    )


def placement(
    app_name: str, cluster: Cluster, app: Application | None, rows: list[ServiceRow], placed: dict[str, dict[int, int]]
) -> dict[str, dict[int, int]]:
    """Where every missing replica of every service goes (``placed``: service → index → node of existing ones)."""
    nodes = capacities(cluster, app)
    demands = []
    for row in rows:
        have = placed.get(row.name, {})
        wanted = [] if row.is_global else [i for i in range(1, row.scale + 1) if i not in have]
        demands.append(demand_of(row, wanted, {i: n for i, n in have.items() if row.is_global or i <= row.scale}))
    depends = {row.name: row.depends_on for row in rows}
    return place_application(nodes, demands, depends, app=app_name)


def moves(
    cluster: Cluster, app: Application, service: Service, moving: list[int], staying: dict[int, int], leaving: set[int]
) -> dict[int, int]:
    """Nodes for the replicas ``moving`` (indexes) of ``service`` off the nodes in ``leaving`` (a drain, a
    failover), beside the replicas ``staying`` (index → node): the same rules as a deploy (constraints,
    affinities, zones, reservations, a fixed host port). PlacementError names the rule when impossible."""
    row = rows_of_services([service])[0]
    return place(capacities(cluster, app, exclude=leaving), demand_of(row, moving, staying), app=app.name)


def service_order(rows: list[ServiceRow] | list[Service]) -> list[str]:
    """Services in dependency order."""
    return order_services({r.name: list(r.depends_on) for r in rows})


def levels(rows: list[ServiceRow] | list[Service]) -> list[set[str]]:
    """Services grouped by dependency depth: the first group depends on nothing, each next one only on earlier
    groups. Containers of one group can start together."""
    order = service_order(rows)
    depth: dict[str, int] = {}
    deps = {r.name: [d for d in r.depends_on if d in {x.name for x in rows}] for r in rows}
    for name in order:
        depth[name] = 1 + max((depth[d] for d in deps[name]), default=-1)
    grouped: list[set[str]] = [set() for _ in range(max(depth.values(), default=-1) + 1)]
    for name, level in depth.items():
        grouped[level].add(name)
    return grouped


NETWORK_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")


def resolve_networks(cluster: Cluster, model: dict[str, Any], project: str) -> list[str]:
    """Name each service's networks as the cluster knows them (kept in the service's ``x-berth-networks``, which
    ``apps.converge.attachments`` reads): ``<project>_<key>`` for the application's own, the name itself for an
    ``external`` one, which must be a shared network of this cluster (made in the console or the API: any other
    name, another tenant's included, is one the cluster does not have). Returns what cannot be joined."""
    declared = model.get("networks") or {}
    shared = set(Network.objects.filter(cluster=cluster).values_list("name", flat=True))
    problems: list[str] = []
    for service in (model.get("services") or {}).values():
        resolved = {}
        for key in service.get("networks") or {}:
            entry = declared.get(key) or {}
            external = bool(entry.get("external"))
            name = str(entry.get("name") or key) if external else f"{project}_{key}"
            overlay = cluster.network_mode == Cluster.NetworkMode.OVERLAY
            if not NETWORK_NAME.match(name):
                problems.append(
                    _('networks.%(key)s: "%(name)s" is not a network name (letters, digits, "_", "." and "-")')
                    % {"key": key, "name": name[:80]}
                )
            elif overlay and not network.valid_name(name):
                problems.append(
                    _(
                        'networks.%(key)s: "%(name)s" cannot name a network of the cluster network: letters, digits, '
                        '"-" and "_" inside, at most 63 (no ".")'
                    )
                    % {"key": key, "name": name[:80]}
                )
            elif external and cluster.network_mode != Cluster.NetworkMode.OVERLAY:
                problems.append(
                    _("networks.%(key)s: shared networks need the cluster network (the cluster's network mode)")
                    % {"key": key}
                )
            elif external and name not in shared:
                problems.append(
                    _(
                        'networks.%(key)s: cluster %(cluster)s has no shared network "%(name)s" (make it under '
                        "Shared networks on the cluster's page first)"
                    )
                    % {"key": key, "cluster": cluster.name, "name": name}
                )
            resolved[key] = {"name": name, "external": external}
        if resolved:
            service[converge.NETWORKS_KEY] = resolved
    return list(dict.fromkeys(problems))


def plan(app_name: str, cluster: Cluster, app: Application | None, prepared: Prepared) -> dict[str, Any]:
    """What applying ``prepared`` to ``app`` (None: a new application) would do; PlacementError when impossible."""
    existing = {s.name: s for s in (app.services.all() if app else [])}
    current: dict[str, list[Container]] = {}
    if app is not None:
        for c in Container.objects.filter(service__application=app).select_related("node", "service"):
            current.setdefault(c.service.name, []).append(c)
    keep: dict[str, dict[int, int]] = {}
    services: list[dict[str, Any]] = []
    node_names = dict(Node.objects.filter(cluster=cluster).values_list("id", "name"))
    for row in prepared.services:
        old = existing.get(row.name)
        containers = current.get(row.name, [])
        old_image = (old.pinned_image or old.image) if old else ""
        keep[row.name] = {c.index: c.node_id for c in containers if row.is_global or c.index <= row.scale}
        kept = [c for c in containers if c.index in keep[row.name]]
        # What the run will do with each container it keeps, decided as the run decides (apps.converge): one made
        # from something else than this row is recreated, one that never reached its node is created.
        made_from = (
            converge.fingerprint(app, Service(application=app, name=row.name, **service_fields(row))) if app else ""
        )
        item = {
            "name": row.name,
            "image": row.runs,
            "new": old is None,
            "image_change": {"from": old_image, "to": row.runs} if old and old_image != row.runs else None,
            "scale": {"from": old.scale if old else 0, "to": row.scale},
            "pull_always": row.latest_image,  # pulled again; containers recreated if the image changed
            "global": row.is_global,
            "recreate": [
                {"container": c.name, "node": c.node.name}
                for c in kept
                if c.docker_id and converge.needs_recreate(c, made_from)
            ],
            "remove": [{"container": c.name, "node": c.node.name} for c in containers if c.index not in keep[row.name]],
            "create": [{"container": c.name, "node": c.node.name} for c in kept if not c.docker_id],
        }
        replaced = [c for c in kept if c.docker_id and c.state == "running" and converge.needs_recreate(c, made_from)]
        for annotate in PLANNED_SERVICE if app is not None else ():
            annotate(row, replaced, made_from, item)
        services.append(item)
    removed = [name for name in existing if name not in {r.name for r in prepared.services}]
    assignment = placement(app_name, cluster, app, prepared.services, keep)
    for item in services:
        for index, node_id in sorted(assignment.get(item["name"], {}).items()):
            item["create"].append({"container": f"{app_name}_{item['name']}_{index}", "node": node_names[node_id]})
    return {
        "application": app_name,
        "cluster": cluster.pk,
        "order": service_order(prepared.services),
        "services": services,
        "removed_services": [
            {"name": n, "remove": [{"container": c.name, "node": c.node.name} for c in current.get(n, [])]}
            for n in removed
        ],
        "port_conflicts": port_conflicts(cluster, app, prepared.services),
        "routes": claims.planned(
            prepared.model.get("services") or {}, claims.root_of(cluster.name, cluster.root_domain)
        ),
        "missing_images": missing_images(cluster, prepared.services),
        "warnings": prepared.warnings,
    }


def port_conflicts(cluster: Cluster, app: Application | None, rows: list[ServiceRow]) -> list[dict[str, Any]]:
    """Fixed host ports another application of the cluster already publishes."""
    conflicts = []
    others = Service.objects.filter(application__cluster=cluster, application__deleted_at__isnull=True)
    if app is not None:
        others = others.exclude(application=app)
    taken: dict[int, str] = {}
    for service in others.select_related("application"):
        for port in (service.spec.get("ports") or []) if service.spec else []:
            if str(port.get("published", "")).isdigit():
                taken[int(port["published"])] = f"{service.application.name}/{service.name}"
        if service.host_port:
            taken[service.host_port] = f"{service.application.name}/{service.name}"
    for row in rows:
        for port in row.spec.get("ports") or []:
            published = str(port.get("published") or "")
            if published.isdigit() and int(published) in taken:
                conflicts.append({"service": row.name, "port": int(published), "used_by": taken[int(published)]})
    return conflicts


def missing_images(cluster: Cluster, rows: list[ServiceRow]) -> dict[str, list[str]]:
    """Per node, the images it does not have (they will be pulled; without a registry that fails)."""
    from clusters import docker_host as host

    missing: dict[str, list[str]] = {}
    images = sorted({r.runs for r in rows})
    for node in Node.objects.filter(cluster=cluster, state=Node.State.READY):
        try:
            endpoint = host.Endpoint.of(node, timeout=3)
            lacking = [i for i in images if not host.image_present(endpoint, i)]
        except host.HostError:
            lacking = images
        if lacking:
            missing[node.name] = lacking
    return missing


def service_fields(row: ServiceRow) -> dict[str, Any]:
    """The fields of the Service row that stores ``row`` (its spec as the database gives it back)."""
    first_port = next(iter(row.spec.get("ports") or []), {})
    published = str(first_port.get("published") or "")
    env = {k: ("" if v is None else str(v)) for k, v in (row.spec.get("environment") or {}).items()}
    return {
        "image": row.image,
        "pinned_image": row.pinned_image,
        "command": row.spec.get("command"),
        "environment": env,
        "scale": row.scale,
        "container_port": first_port.get("target"),
        "host_port": int(published) if published.isdigit() else None,
        "protocol": first_port.get("protocol", "tcp"),
        "spec": json.loads(json.dumps(row.spec, default=str)),
        "rules": row.rules,
        "depends_on": row.depends_on,
        "is_global": row.is_global,
        "latest_image": row.latest_image,
        "reschedule_on_node_failure": row.reschedule,
    }


def write_services(app: Application, rows: list[ServiceRow]) -> None:
    """Make the application's Service rows say what ``rows`` say (new ones created, dropped ones deleted)."""
    keep = []
    for row in rows:
        service, _created = Service.objects.update_or_create(
            application=app, name=row.name, defaults=service_fields(row)
        )
        keep.append(service.pk)
    Service.objects.filter(application=app).exclude(pk__in=keep).delete()
    for written in SERVICES_WRITTEN:
        written(app)


def add_version(app: Application, text: str, variables: dict[str, str], actor: Any, note: str = "") -> AppVersion:
    """Store the template text and its variables (sealed: secrets included) as the next version."""
    from clusters.pki import seal

    number = (app.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    version = AppVersion.objects.create(
        application=app,
        number=number,
        compose=text,
        created_by=actor,
        note=note[:200],
        variables_sealed=seal(json.dumps(variables, sort_keys=True), secret=settings.BERTH_ENCRYPTION_KEY),
    )
    Application.objects.filter(pk=app.pk).update(version=number)
    app.version = number
    return version


def version_variables(version: AppVersion) -> dict[str, str]:
    """The variables a version was made with (unsealed in memory)."""
    from clusters.pki import unseal

    if not version.variables_sealed:
        return {}
    return json.loads(unseal(version.variables_sealed, secret=settings.BERTH_ENCRYPTION_KEY))


def explain(exc: PlacementError) -> ValidationError:
    return ValidationError({"placement": [_("Cannot place the containers: %(reason)s") % {"reason": exc}]})
