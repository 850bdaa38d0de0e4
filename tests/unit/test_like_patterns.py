"""The SQL permission filter on PostgreSQL (LIKE) lets in exactly what ``accounts.policy.match`` does: ``_``, ``%``
and ``\\`` in the literal parts of a policy pattern are literal (review of issue 11: ``user/ops_*`` matched
``ops-lead`` there). PostgreSQL's LIKE is read here by its documented rule (``\\`` escapes, ``%`` any run, ``_`` one
character), so the check needs no server; the integration layer runs the filters on PostgreSQL itself."""

from __future__ import annotations

import re

import pytest

from accounts import policy
from accounts.decisions import _like, pattern_parts


def postgres_like(pattern: str, value: str) -> bool:
    """``value LIKE pattern`` as PostgreSQL reads it (default escape ``\\``, case-sensitive, whole value)."""
    out, chars = [], iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(re.escape(next(chars, "")))
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.fullmatch("".join(out), value, re.DOTALL) is not None


PATTERNS = ["user/ops_*", "user/100%*", "user/a\\b?", "user/*_x", "user/?", "user/ops_lead"]
NAMES = ["user/ops_a", "user/ops-lead", "user/opsXlead", "user/100%x", "user/1000x", "user/a\\bc", "user/a\\\\bc",
         "user/q_x", "user/qzx", "user/_", "user/ops_lead", "user/opsalead"]  # fmt: skip


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_like_filter_matches_what_the_policy_matches(pattern: str) -> None:
    like = _like(pattern_parts(pattern, None, deny=False) or ())
    for name in NAMES:
        assert postgres_like(like, name) == policy.match(pattern, name, case_sensitive=True), (pattern, like, name)
