"""The rename of cs:SetRouteWeight to cs:ModifyRoute reaches the custom policies that name it (issue 13)."""

from __future__ import annotations

import importlib

from accounts import operations as ram
from accounts.models import User
from accounts.models.ram import PolicyVersion

rename = importlib.import_module("routing.migrations.0004_modify_route_action").rename


class Apps:
    def get_model(self, app: str, name: str) -> type:
        assert (app, name) == ("accounts", "PolicyVersion")
        return PolicyVersion


def test_a_custom_policy_naming_the_old_action_names_the_new_one(owner: User) -> None:
    document = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": ["cs:SetRouteWeight", "cs:Describe*"], "Resource": "*"},
            {"Effect": "Deny", "Action": "cs:SetRouteWeight", "Resource": "acs:cs:*:*:cluster/9/*"},
        ],
    }
    policy = ram.create_policy(owner, name="weights", document=document)
    rename(Apps(), None)
    stored = PolicyVersion.objects.get(policy=policy).document
    assert stored["Statement"][0]["Action"] == ["cs:ModifyRoute", "cs:Describe*"]
    assert stored["Statement"][1]["Action"] == "cs:ModifyRoute"
