"""Errors every layer raises and the console answers the same way (the API's ``console.api.exception_handler``,
the pages' messages)."""

from __future__ import annotations


class OperationConflict(Exception):
    """The object is busy or in a state that refuses the operation (another long operation of it is still
    active, it has been deleted, a cluster still has applications); the message says why. The API answers 409."""
