"""One active task per node, in the database (a partial unique index on node tasks pending or running).

Before the index, a node that already has several active tasks (two requests that raced on PostgreSQL) keeps its
newest one; the others are failed with a note, so the index can be built.
"""

from django.db import migrations, models
from django.db.models import Count
from django.utils import timezone

ACTIVE = ["pending", "running"]


def end_extra_active_tasks(apps, schema_editor):
    NodeTask = apps.get_model("clusters", "NodeTask")
    active = NodeTask.objects.filter(status__in=ACTIVE, node__isnull=False)
    crowded = active.values("node_id").annotate(n=Count("id")).filter(n__gt=1)
    for row in crowded:
        mine = active.filter(node_id=row["node_id"]).order_by("-id")
        keep = mine.values_list("id", flat=True).first()
        mine.exclude(id=keep).update(
            status="failed",
            finished_at=timezone.now(),
            error="ended by an upgrade: another task of the node was active (one at a time)",
        )


class Migration(migrations.Migration):
    dependencies = [
        ("clusters", "0005_node_door_data"),
    ]

    operations = [
        migrations.RunPython(end_extra_active_tasks, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="nodetask",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["pending", "running"])),
                fields=("node",),
                name="node_task_one_active_per_node",
            ),
        ),
    ]
