"""What creating an application from one image would do, checked before anything is made.

The plan says where each container goes (the scheduler, with the cluster's ready nodes), which of those nodes
lack the image, and whether it can be had: when a node that gets a container lacks the image and no registry
answers for it (the engine itself asks the registry for the image's manifest, with the tenant's credential for
that registry; nothing is pulled), creating the application is refused up front with the reason, rather than
leaving a failed deploy behind. Nodes that do not answer are not judged (the deploy names them if they fail).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.permissions import authorize
from apps import stacks
from apps.image_spec import ImageAppSpec, validate_spec
from apps.scheduler import PlacementError
from clusters import docker_host as host
from clusters.models import Cluster, Node


def _row(spec: ImageAppSpec) -> stacks.ServiceRow:
    """The one service of an image application, as the scheduler sees it (its fixed host port included)."""
    ports = [{"target": spec.container_port, "published": str(spec.host_port)}] if spec.host_port else []
    return stacks.ServiceRow(
        name=spec.name,
        image=spec.image,
        scale=spec.scale,
        is_global=False,
        rules=[],
        depends_on=[],
        latest_image=False,
        reschedule=False,
        spec={"ports": ports} if ports else {},
    )


def _lacks(node: Node, image: str) -> bool | None:
    """Whether ``node`` lacks ``image``; None when the node does not answer."""
    try:
        return not host.image_present(host.Endpoint.of(node, timeout=3), image)
    except host.HostError:
        return None


def image_plan(actor: Any, cluster: Cluster, spec: ImageAppSpec) -> dict[str, Any]:
    """The plan of an application made from ``spec`` on ``cluster``: its containers and their nodes, the nodes that
    will pull the image. ValidationError (by field) when the spec is wrong, no node fits, or a node that gets a
    container lacks the image and no registry has it."""
    authorize(actor, "cs:CreateApplication", cluster)
    validate_spec(spec)
    row = _row(spec)
    try:
        placed = stacks.placement(spec.name, cluster, None, [row], {}).get(spec.name, {})
    except PlacementError as exc:
        raise stacks.explain(exc) from exc
    nodes = {n.pk: n for n in Node.objects.filter(cluster=cluster, pk__in=set(placed.values()))}
    lacking = [node for node in nodes.values() if _lacks(node, spec.image)]
    if lacking:
        try:
            reason = host.registry_lookup(host.Endpoint.of(lacking[0], timeout=5), spec.image)
        except host.HostError:
            reason = ""  # the node stopped answering: the deploy will say so
        if reason:
            raise ValidationError(
                {
                    "image": [
                        _("%(image)s is not on %(nodes)s and cannot be pulled: %(reason)s")
                        % {"image": spec.image, "nodes": ", ".join(sorted(n.name for n in lacking)), "reason": reason}
                    ]
                }
            )
    return {
        "application": spec.name,
        "image": spec.image,
        "create": [
            {"container": f"{spec.name}_{spec.name}_{index}", "node": nodes[node_id].name}
            for index, node_id in sorted(placed.items())
        ],
        "missing_images": {node.name: [spec.image] for node in sorted(lacking, key=lambda n: n.name)},
        "port_conflicts": stacks.port_conflicts(cluster, None, [row]),
    }
