"""Data of the node door's second round: node tasks keep their target's name, the setup's grant is the automatic
one, and nodes without an engine ID are held until the health check identifies them."""

from django.db import migrations

UNIDENTIFIED = (
    "not identified yet: Berth reaches it again once the health check has read its engine ID "
    "(or retires it when that engine is already another node, or this machine without the operator's grant)"
)


def name_node_tasks(apps, schema_editor):
    """Every node task keeps the name of what it works on (a removed node's task had none to show)."""
    NodeTask = apps.get_model("clusters", "NodeTask")
    for task in NodeTask.objects.select_related("node", "cluster").iterator():
        name = task.node.name if task.node_id else str((task.params or {}).get("name") or task.cluster.name)
        NodeTask.objects.filter(pk=task.pk).update(target_name=name[:100])


def mark_the_setup_grant(apps, schema_editor):
    """The grant setup gave with the first tenant's local cluster is the automatic one (one tenant at most: the
    earliest; a second tenant that got one by the setup race keeps a plain grant the operator may revoke)."""
    HostGrant = apps.get_model("clusters", "HostGrant")
    first = HostGrant.objects.filter(note__startswith="its local cluster").order_by("id").first()
    if first is not None:
        HostGrant.objects.filter(pk=first.pk).update(automatic=True)


def hold_unidentified_nodes(apps, schema_editor):
    """Live nodes registered before engine IDs were kept cannot be pinged here: the node door refuses every
    operation on them from now on, and the health check resolves each (it adopts the engine ID, or retires the node,
    with an operation-log entry, when that engine is already another node or this machine without a grant). Until
    then they show as unreachable, with the reason."""
    Node = apps.get_model("clusters", "Node")
    Node.objects.exclude(state="removed").filter(engine_id="").update(state="unreachable", last_error=UNIDENTIFIED)


class Migration(migrations.Migration):
    dependencies = [
        ("clusters", "0004_node_door_rotation"),
    ]

    operations = [
        migrations.RunPython(name_node_tasks, migrations.RunPython.noop),
        migrations.RunPython(mark_the_setup_grant, migrations.RunPython.noop),
        migrations.RunPython(hold_unidentified_nodes, migrations.RunPython.noop),
    ]
