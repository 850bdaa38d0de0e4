"""cs:SetRouteWeight became cs:ModifyRoute (a route's weight and its redirect to https): custom policies that name
the old action name the new one, so that what they granted or denied stays granted or denied."""

from django.db import migrations

OLD, NEW = "cs:SetRouteWeight", "cs:ModifyRoute"


def _renamed(value):
    if isinstance(value, str):
        return NEW if value == OLD else value
    if isinstance(value, list):
        return [_renamed(item) for item in value]
    return value


def rename(apps, schema_editor):
    PolicyVersion = apps.get_model("accounts", "PolicyVersion")
    for version in PolicyVersion.objects.all().iterator():
        document = version.document
        if OLD not in str(document):
            continue
        statements = document.get("Statement", []) if isinstance(document, dict) else []
        for statement in statements if isinstance(statements, list) else [statements]:
            if isinstance(statement, dict):
                for key in ("Action", "NotAction"):
                    if key in statement:
                        statement[key] = _renamed(statement[key])
        version.document = document
        version.save(update_fields=["document"])


class Migration(migrations.Migration):
    dependencies = [("routing", "0003_certificates"), ("accounts", "0002_initial")]

    operations = [migrations.RunPython(rename, migrations.RunPython.noop)]
