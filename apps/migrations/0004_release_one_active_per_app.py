"""One active release per application, in the database (a partial unique index on releases pending or running).

Before the index, an application that already has several active releases (two requests that raced on PostgreSQL)
keeps its newest one; the others are failed with a note, so the index can be built.
"""

from django.db import migrations, models
from django.db.models import Count
from django.utils import timezone

ACTIVE = ["pending", "running"]


def end_extra_active_releases(apps, schema_editor):
    Release = apps.get_model("apps", "Release")
    active = Release.objects.filter(status__in=ACTIVE)
    crowded = active.values("application_id").annotate(n=Count("id")).filter(n__gt=1)
    for row in crowded:
        mine = active.filter(application_id=row["application_id"]).order_by("-id")
        keep = mine.values_list("id", flat=True).first()
        mine.exclude(id=keep).update(
            status="failed",
            finished_at=timezone.now(),
            error="ended by an upgrade: another release of the application was active (one at a time)",
        )


class Migration(migrations.Migration):
    dependencies = [
        ("apps", "0003_release_kind_rollback"),
    ]

    operations = [
        migrations.RunPython(end_extra_active_releases, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="release",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["pending", "running"])),
                fields=("application",),
                name="release_one_active_per_app",
            ),
        ),
    ]
