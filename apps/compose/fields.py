"""Checkers of the basic kinds of Compose values; each returns the canonical value or INVALID, recording problems.

Every checker has the signature ``(value, path, problems) -> canonical | INVALID`` so that field tables (see
service.py and resources.py) can name a checker per key. Strings that came out of interpolation are accepted
where Compose accepts them (``"3"`` for an integer, ``"true"``/``"yes"`` for a boolean).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from .model import Problems, join_path
from .scalars import (
    duration_text,
    json_number,
    parse_bool,
    parse_bytes,
    parse_duration,
    parse_float,
    parse_int,
    scalar_text,
)


class _Invalid:
    """Marker of a value that was refused (its problem is already recorded)."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()
Checker = Callable[[Any, str, Problems], Any]


def type_name(value: Any) -> str:
    """How a YAML value is named in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def is_scalar(value: Any) -> bool:
    """Whether a value is a YAML scalar other than null."""
    return isinstance(value, (str, int, float, bool))


def string(value: Any, path: str, problems: Problems) -> Any:
    """A string (a number is refused, as Compose refuses ``user: 1000``: quote it)."""
    if isinstance(value, str):
        return value
    hint = " (quote it)" if is_scalar(value) else ""
    problems.add(path, f"must be a string, not {type_name(value)}{hint}")
    return INVALID


def boolean(value: Any, path: str, problems: Problems) -> Any:
    """A boolean (``true``/``false``; ``yes``/``no``/``on``/``off`` are accepted as Compose does)."""
    parsed = parse_bool(value)
    if parsed is None:
        problems.add(path, f"must be true or false, not {value!r}")
        return INVALID
    return parsed


def integer(value: Any, path: str, problems: Problems) -> Any:
    """An integer."""
    parsed = parse_int(value)
    if parsed is None:
        problems.add(path, f"must be an integer, not {value!r}")
        return INVALID
    return parsed


def count(value: Any, path: str, problems: Problems) -> Any:
    """An integer of zero or more."""
    parsed = integer(value, path, problems)
    if parsed is not INVALID and parsed < 0:
        problems.add(path, f"must be zero or more, not {parsed}")
        return INVALID
    return parsed


def number(value: Any, path: str, problems: Problems) -> Any:
    """A non-negative number (cpus, ratios)."""
    parsed = parse_float(value)
    if parsed is None or parsed < 0:
        problems.add(path, f"must be a number of zero or more, not {value!r}")
        return INVALID
    return json_number(parsed)


def duration(value: Any, path: str, problems: Problems) -> Any:
    """A duration such as ``10s``, ``1m30s`` or ``1h``; printed as Compose prints it (``1m30s``)."""
    nanoseconds = parse_duration(value) if isinstance(value, str) else None
    if nanoseconds is None or nanoseconds < 0:
        problems.add(path, f"must be a duration with a unit such as 10s, 1m30s or 2h, not {value!r}")
        return INVALID
    return duration_text(nanoseconds)


def byte_size(value: Any, path: str, problems: Problems) -> Any:
    """A size in bytes (``512m``, ``1g``, ``1048576``); Compose prints it as a string of bytes."""
    parsed = parse_bytes(value)
    if parsed is None or parsed < 0:
        problems.add(path, f"must be a size such as 512m, 1g or a number of bytes, not {value!r}")
        return INVALID
    return str(parsed)


def byte_size_text(value: Any, path: str, problems: Problems) -> Any:
    """A size written as a string (``512M``), as deploy.resources requires."""
    if not isinstance(value, str):
        problems.add(path, f'must be a string such as "512M", not {type_name(value)}')
        return INVALID
    return byte_size(value, path, problems)


def string_list(value: Any, path: str, problems: Problems) -> Any:
    """A list of strings."""
    if not isinstance(value, list):
        problems.add(path, f"must be a list of strings, not {type_name(value)}")
        return INVALID
    items = [string(item, join_path(path, index), problems) for index, item in enumerate(value)]
    return INVALID if INVALID in items else items


def string_or_list(value: Any, path: str, problems: Problems) -> Any:
    """A string or a list of strings; a single string becomes a one-item list."""
    if isinstance(value, str):
        return [value]
    return string_list(value, path, problems)


def unique(items: list[Any]) -> list[Any]:
    """Items without repeats, first occurrence kept in place."""
    seen: list[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def unique_strings(value: Any, path: str, problems: Problems) -> Any:
    """A string or list of strings, without repeats (Compose keeps each cap_add, dns... once)."""
    items = string_or_list(value, path, problems)
    return items if items is INVALID else unique(items)


def unquoted_shell_operator(text: str) -> str | None:
    """The first of ``; & | < >`` outside quotes in a command string, if any (Compose stops splitting there)."""
    quote = ""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in ";&|<>":
            return char
    return None


def shell_words(value: Any, path: str, problems: Problems) -> Any:
    """command/entrypoint: a list of strings, or a string split into words as a POSIX shell would."""
    if value is None:
        return None
    if isinstance(value, str):
        operator = unquoted_shell_operator(value)
        if operator:
            problems.add(
                path,
                f"the shell operator {operator!r} is outside quotes: Compose would silently drop the rest of the "
                'command; use the list form, e.g. ["sh", "-c", "..."]',
            )
            return INVALID
        try:
            return shlex.split(value)
        except ValueError as error:
            problems.add(path, f"cannot be split into words ({error}); use the list form")
            return INVALID
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                problems.add(join_path(path, index), f"must be a string, not {type_name(item)} (quote it)")
                return INVALID
        return list(value)
    problems.add(path, f"must be a string or a list of strings, not {type_name(value)}")
    return INVALID


def key_values(value: Any, path: str, problems: Problems, *, bare: Any = "", separator: str = "=") -> Any:
    """A mapping, or a list of ``KEY=VALUE`` strings, as a mapping of strings (``bare`` for ``KEY`` alone)."""
    result: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                result[key] = bare
            elif is_scalar(item):
                result[key] = scalar_text(item)
            else:
                problems.add(join_path(path, key), f"must be a string, number or boolean, not {type_name(item)}")
        return result
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                problems.add(join_path(path, index), f'must be a string "KEY{separator}VALUE", not {type_name(item)}')
                continue
            key, found, text = item.partition(separator)
            if not key:
                problems.add(join_path(path, index), f'must be "KEY{separator}VALUE" with a non-empty KEY')
                continue
            result[key] = text if found else bare
        return result
    problems.add(path, f'must be a mapping or a list of "KEY{separator}VALUE" strings, not {type_name(value)}')
    return INVALID


def labels(value: Any, path: str, problems: Problems) -> Any:
    """Labels: a mapping or a list of ``KEY=VALUE``; a key without value is the empty string."""
    return key_values(value, path, problems, bare="")


def environment(value: Any, path: str, problems: Problems) -> Any:
    """Environment: like labels, but a bare ``KEY`` is None until resolved from the loader's environment."""
    return key_values(value, path, problems, bare=None)


def mapping_of(checkers: dict[str, Checker], *, required: tuple[str, ...] = ()) -> Checker:
    """A checker of a mapping with known keys, each with its own checker; unknown keys are refused."""

    def check(value: Any, path: str, problems: Problems) -> Any:
        """Each known key checked; unknown keys and missing required keys are problems."""
        if not isinstance(value, dict):
            problems.add(path, f"must be a mapping, not {type_name(value)}")
            return INVALID
        result: dict[str, Any] = {}
        for key, item in value.items():
            checker = checkers.get(key)
            if checker is None:
                allowed = ", ".join(sorted(checkers))
                problems.add(join_path(path, key), f"unknown key (allowed here: {allowed})")
                continue
            if item is None and key not in required:
                continue
            checked = checker(item, join_path(path, key), problems)
            if checked is not INVALID:
                result[key] = checked
        for key in required:
            if key not in value:
                problems.add(path, f"{key} is required")
        return result

    return check


def one_of(*choices: str) -> Checker:
    """A checker of a string from a fixed set."""

    def check(value: Any, path: str, problems: Problems) -> Any:
        if value not in choices:
            problems.add(path, f"must be one of {', '.join(choices)}, not {value!r}")
            return INVALID
        return value

    return check
