"""The operation log: redaction, append-only rows, a hash chain that finds an edited row."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.models import User
from console import audit
from console.models import OperationLog


def test_secrets_are_redacted_at_any_depth() -> None:
    out = audit.redact({"password": "x", "nested": {"AccessKeySecret": "y", "ok": 1}, "list": [{"token": "z"}]})
    assert out == {
        "password": "[redacted]",
        "nested": {"AccessKeySecret": "[redacted]", "ok": 1},
        "list": [{"token": "[redacted]"}],
    }


def test_entries_are_chained_and_cannot_be_changed(owner: User) -> None:
    first = audit.record("cs:Test", actor=owner, target="a")
    second = audit.record("cs:Test", actor=owner, target="b", parameters={"password": "hunter2"})
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.hash
    assert second.parameters == {"password": "[redacted]"}
    assert audit.verify_chain(owner.tenant) is None
    with pytest.raises(TypeError):
        second.save()
    with pytest.raises(TypeError):
        second.delete()
    with pytest.raises(TypeError):
        OperationLog.objects.filter(pk=first.pk).update(target="x")


def test_verify_command_names_the_first_edited_row(owner: User, outsider: User) -> None:
    entries = [audit.record("cs:Test", actor=owner, target=f"t{i}") for i in range(4)]
    audit.record("cs:Test", actor=outsider, target="other tenant")
    call_command("verify_operation_log", "--tenant", "acme")
    with connection.cursor() as cursor:  # an attacker with database access edits a row in place
        cursor.execute("UPDATE console_operationlog SET target = 'forged' WHERE id = %s", [entries[2].pk])
    with pytest.raises(CommandError, match=f"entry id {entries[2].pk} "):
        call_command("verify_operation_log", "--tenant", "acme")
    call_command("verify_operation_log", "--tenant", "globex")  # another tenant's chain is untouched


def test_a_deleted_row_breaks_the_chain(owner: User) -> None:
    entries = [audit.record("cs:Test", actor=owner, target=f"t{i}") for i in range(3)]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM console_operationlog WHERE id = %s", [entries[1].pk])
    broken = audit.verify_chain(owner.tenant)
    assert broken is not None and broken.pk == entries[2].pk


def test_actor_name_survives_user_deletion(owner: User) -> None:
    member = User.objects.create_user(owner.tenant, "temp", "Correct-Horse-9")
    entry = audit.record("cs:Test", actor=member)
    member.delete()
    entry.refresh_from_db()
    assert entry.actor_id is None and entry.actor_name == "temp@acme"
