"""Errors every layer raises and the console answers the same way (the API's ``console.api.exception_handler``,
the pages' messages)."""

from __future__ import annotations


class OperationConflict(Exception):
    """The object is busy or in a state that refuses the operation (another long operation of it is still
    active, it has been deleted, a cluster still has applications); the message says why. The API answers 409."""


class Unsatisfiable(Exception):
    """What was asked cannot be done as asked: no placement satisfies the rules (``apps.scheduler.PlacementError``);
    the message names the rule that failed. The API answers 400."""


class HostFailure(Exception):
    """A machine Berth drives refused or failed an operation (``clusters.docker_host.HostError``); the message is the
    reason for people. The API answers 502."""
