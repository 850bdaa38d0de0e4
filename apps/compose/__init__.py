"""Berth's Compose loader: Compose files (V1, 2.x, 3.x, spec) to the canonical model Berth deploys.

``load()`` gives what ``docker compose -p PROJECT config --format json`` prints for the same files and
environment, for every field Berth supports, and refuses (ComposeError) what Berth cannot or must not deploy;
``load_with_warnings()`` adds what Compose would warn about (and Alibaba labels Berth does not know).
``variables()`` lists a template's parameters. The aliyun helpers read Alibaba swarm-edition labels and hints.
"""

from __future__ import annotations

from .aliyun import aliyun_labels, is_global, labels_of, scheduling_hints, service_scale
from .loader import DEFAULT_WORKDIR, Loaded, load, load_with_warnings, variables
from .model import (
    MAX_BYTES,
    REMOVE_CONTAINERS,
    AliyunLabels,
    ComposeError,
    LogSpec,
    ProbeSpec,
    Problem,
    Rule,
    SchedulingHints,
    Variable,
)

__all__ = [
    "DEFAULT_WORKDIR",
    "MAX_BYTES",
    "REMOVE_CONTAINERS",
    "AliyunLabels",
    "ComposeError",
    "Loaded",
    "LogSpec",
    "ProbeSpec",
    "Problem",
    "Rule",
    "SchedulingHints",
    "Variable",
    "aliyun_labels",
    "is_global",
    "labels_of",
    "load",
    "load_with_warnings",
    "scheduling_hints",
    "service_scale",
    "variables",
]
