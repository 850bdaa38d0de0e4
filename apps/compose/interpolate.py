"""``${VAR}`` interpolation of Compose files, with Compose's syntax and its handling of unset variables.

Syntax (values only, never keys): ``$$`` is a literal ``$``; ``$NAME`` and ``${NAME}`` substitute; inside braces
``:-``/``-`` give a default when unset-or-empty/unset, ``:?``/``?`` refuse when unset-or-empty/unset with a message,
``:+``/``+`` substitute an alternative when set-and-non-empty/set. The text after an operator is itself a template
(``${A:-${B:-x}}``) and braces nest (``${A:-{x}}`` defaults to ``{x}``). A ``$`` that starts nothing (``5$``,
``$1``) stays as it is. Alternatives and defaults are only evaluated when used. References nest at most
MAX_NESTING levels deep (``${A:-${B:-…}}``): deeper text is refused with its path, never recursed into.

A plain reference to an unset variable (``$NAME``, ``${NAME}``) reads as an empty string with a warning, as
Compose does; only ``:?``/``?`` refuse. The strict mode refuses it instead (a template checked with its values).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .model import Problems, Variable, join_path

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
MAX_NESTING = 32
"""How deep ``${A:-${B:-…}}`` may nest: far beyond any real template, far below Python's recursion limit."""


class TemplateError(Exception):
    """A template that cannot be interpolated: bad syntax, or a required variable without a value."""


@dataclass(frozen=True)
class Reference:
    """One ``$NAME``/``${NAME...}`` in a template: its operator (``""`` for none) and raw argument text."""

    name: str
    operator: str
    argument: str


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing a ``${`` whose content starts at ``start``, or -1. Braces nest."""
    depth = 1
    for index in range(start, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _parse_braced(content: str, template: str) -> Reference:
    """The reference inside ``${...}``."""
    match = _NAME.match(content)
    if not match:
        raise TemplateError(f'invalid interpolation format in "{template}" (to write a literal $, use $$)')
    rest = content[match.end() :]
    if not rest:
        return Reference(match.group(), "", "")
    for operator in _OPERATORS:
        if rest.startswith(operator):
            return Reference(match.group(), operator, rest[len(operator) :])
    raise TemplateError(f'invalid interpolation format in "{template}" (to write a literal $, use $$)')


def tokens(template: str) -> list[str | Reference]:
    """Split a template into literal text and references; raises TemplateError on bad syntax."""
    parts: list[str | Reference] = []
    literal: list[str] = []
    index = 0
    while index < len(template):
        char = template[index]
        following = template[index + 1 : index + 2]
        if char != "$" or not following:
            literal.append(char)
            index += 1
            continue
        if following == "$":
            literal.append("$")
            index += 2
            continue
        if following == "{":
            end = _closing_brace(template, index + 2)
            if end < 0:
                raise TemplateError(f'invalid interpolation format in "{template}" (to write a literal $, use $$)')
            reference = _parse_braced(template[index + 2 : end], template)
            index = end + 1
        else:
            match = _NAME.match(template, index + 1)
            if not match:
                literal.append(char)
                index += 1
                continue
            reference = Reference(match.group(), "", "")
            index = match.end()
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(reference)
    if literal:
        parts.append("".join(literal))
    return parts


Lookup = Callable[[str], "str | None"]


class TooLarge(TemplateError):
    """The interpolated string would pass the size it may reach."""


class TooDeep(TemplateError):
    """References nested deeper than MAX_NESTING."""


def substitute(
    template: str, lookup: Lookup, on_unset: Callable[[str], None], limit: int | None = None, depth: int = 0
) -> str:
    """Interpolate one string. ``on_unset(name)`` is called for a plain reference to an unset variable.

    With ``limit``, TooLarge is raised as soon as the result would pass that many characters (nothing larger
    is ever built: ``${A}${A}…`` with a long value is refused early). A default, alternative or message nested
    more than MAX_NESTING levels deep raises TooDeep.
    """
    if depth > MAX_NESTING:
        raise TooDeep(f"variables nested more than {MAX_NESTING} levels deep in defaults or alternatives")
    nested = depth + 1
    out: list[str] = []
    length = 0
    for part in tokens(template):
        if limit is not None and out:
            length += len(out[-1])
            if length > limit:
                raise TooLarge(f"the value grows past {limit} characters once its variables are substituted")
        if isinstance(part, str):
            out.append(part)
            continue
        value = lookup(part.name)
        operator = part.operator
        if operator == "":
            if value is None:
                on_unset(part.name)
            out.append(value or "")
        elif operator in (":-", "-"):
            missing = value is None or (operator == ":-" and value == "")
            out.append(substitute(part.argument, lookup, on_unset, limit, nested) if missing else (value or ""))
        elif operator in (":?", "?"):
            if value is None or (operator == ":?" and value == ""):
                message = substitute(part.argument, lookup, on_unset, limit, nested)
                detail = f": {message}" if message else ""
                raise TemplateError(f"required variable {part.name} is missing a value{detail}")
            out.append(value)
        else:
            present = value is not None and (operator == "+" or value != "")
            out.append(substitute(part.argument, lookup, on_unset, limit, nested) if present else (value or ""))
    if limit is not None and out and length + len(out[-1]) > limit:
        raise TooLarge(f"the value grows past {limit} characters once its variables are substituted")
    return "".join(out)


def interpolate_tree(data: Any, env: Mapping[str, str], *, strict: bool, problems: Problems, path: str = "") -> Any:
    """Interpolate every string value of a parsed file (keys are left alone, as Compose does)."""
    if isinstance(data, dict):
        return {
            key: interpolate_tree(value, env, strict=strict, problems=problems, path=join_path(path, key))
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [
            interpolate_tree(item, env, strict=strict, problems=problems, path=join_path(path, index))
            for index, item in enumerate(data)
        ]
    if not isinstance(data, str) or "$" not in data:
        return data

    def on_unset(name: str) -> None:
        if strict:
            problems.add(path, f"variable {name} is not set and has no default")
            problems.silence(path)
        else:
            problems.warn(
                path, f"variable {name} is not set and has no default: it reads as an empty string", once=name
            )

    try:
        result = substitute(data, env.get, on_unset, limit=len(data) + max(0, problems.budget))
    except TooLarge:
        problems.spend(path, problems.budget + 1)
        return data
    except TemplateError as error:
        problems.add(path, str(error))
        problems.silence(path)
        return data
    if not problems.spend(path, len(result) - len(data)):
        return data
    return result


def _collect(template: str, found: dict[str, Variable], depth: int = 0) -> None:
    """Add the references of a template (and of its defaults, recursively) to ``found``, first one wins.

    Past MAX_NESTING levels it stops: loading the text refuses it with the path.
    """
    if depth > MAX_NESTING:
        return
    try:
        parts = tokens(template)
    except TemplateError:
        return
    for part in parts:
        if isinstance(part, str):
            continue
        if part.name not in found:
            required = part.operator in (":?", "?")
            default = part.argument if part.operator in (":-", "-") else None
            message = (part.argument or None) if required else None
            found[part.name] = Variable(part.name, default, required, message)
        if part.argument:
            _collect(part.argument, found, depth + 1)


def collect_variables(data: Any, found: dict[str, Variable]) -> None:
    """Add the variables used by every string value of a parsed file, in document order."""
    if isinstance(data, dict):
        for value in data.values():
            collect_variables(value, found)
    elif isinstance(data, list):
        for item in data:
            collect_variables(item, found)
    elif isinstance(data, str) and "$" in data:
        _collect(data, found)
