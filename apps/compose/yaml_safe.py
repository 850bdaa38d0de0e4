"""Safe YAML reading for Compose files: YAML 1.2 scalars as Compose reads them, and refusal of hostile input.

Only plain data is built (no Python objects). On top of PyYAML's safe loading this module:

* resolves plain scalars the way Compose (go-yaml v3) does: ``yes``/``no``/``on``/``off`` and dates stay
  strings, ``0755`` is octal, ``0o17``/``0x1F``/``0b101`` and ``1_000`` are integers;
* refuses duplicate keys, naming the key and both lines;
* refuses tabs used for indentation with a clear message instead of a scanner error;
* refuses "YAML bombs": the size of the document with every alias expanded is computed on the node graph
  (shared nodes are counted once per use, memoised, so it takes time proportional to the document's text,
  not to its expansion) and the document is refused past MAX_NODES nodes or MAX_EXPANDED_BYTES bytes
  (strings counted with their length: a few long strings repeated by aliases are a bomb too), before
  anything is built;
* refuses recursive aliases, files over MAX_BYTES, invalid UTF-8, several documents and an empty file.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from .model import MAX_BYTES, MAX_EXPANDED_BYTES, Problem

try:
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover - PyYAML wheels ship libyaml
    CParser = None

MAX_NODES = 100_000
"""Largest number of nodes a document may have once every alias is expanded."""

NUMBER_TAG = "tag:berth.compose,2024:number"
_NUMBER_CANDIDATE = re.compile(r"^[-+]?(?:[0-9.][0-9a-zA-Z_.+-]*|\.(?:inf|Inf|INF|nan|NaN|NAN))$")
_GO_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_SPECIAL_FLOATS = {
    ".inf": math.inf,
    ".Inf": math.inf,
    ".INF": math.inf,
    "+.inf": math.inf,
    "+.Inf": math.inf,
    "+.INF": math.inf,
    "-.inf": -math.inf,
    "-.Inf": -math.inf,
    "-.INF": -math.inf,
    ".nan": math.nan,
    ".NaN": math.nan,
    ".NAN": math.nan,
}
_INT64 = 2**63


class YamlRefused(Exception):
    """Raised inside the loader for a refusal that PyYAML itself would not raise."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class CoreSchemaResolver(BaseResolver):
    """YAML 1.2 core-schema resolution of plain scalars, as go-yaml v3 does it for Compose."""


CoreSchemaResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
CoreSchemaResolver.add_implicit_resolver(
    "tag:yaml.org,2002:null",
    re.compile(r"^(?:~|null|Null|NULL|)$"),
    ["~", "n", "N", ""],
)
CoreSchemaResolver.add_implicit_resolver(NUMBER_TAG, _NUMBER_CANDIDATE, list("-+0123456789."))
CoreSchemaResolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


def parse_go_int(text: str) -> int | None:
    """An integer as Go's ``strconv.ParseInt(s, 0, 64)`` (then ParseUint) reads it, or None."""
    sign = 1
    body = text
    if body[:1] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if not body:
        return None
    lowered = body.lower()
    try:
        if lowered.startswith("0x"):
            value = int(body[2:], 16)
        elif lowered.startswith("0o"):
            value = int(body[2:], 8)
        elif lowered.startswith("0b"):
            value = int(body[2:], 2)
        elif len(body) > 1 and body.startswith("0"):
            value = int(body[1:], 8)
        elif body.isdigit():
            value = int(body, 10)
        else:
            return None
    except ValueError:
        return None
    value *= sign
    if -_INT64 <= value < 2 * _INT64:
        return value
    return None


def resolve_number(text: str) -> int | float | str:
    """The value go-yaml v3 gives a plain scalar that looks numeric (a string when it is not a number)."""
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    plain = text.replace("_", "")
    as_int = parse_go_int(plain)
    if as_int is not None:
        return as_int
    if _GO_FLOAT.match(plain):
        return float(plain)
    return text


class ComposeConstructor(SafeConstructor):
    """Builds plain data only, refusing duplicate keys and non-scalar keys."""

    def construct_number(self, node: ScalarNode) -> int | float | str:
        """Resolve a numeric-looking plain scalar."""
        return resolve_number(self.construct_scalar(node))

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:  # type: ignore[override]
        """A mapping whose explicit keys are unique; merge keys (``<<``) fill in only what is not set."""
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f"expected a mapping, found {node.id}", node.start_mark)
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key_node, ScalarNode):
                raise YamlRefused(key_node.start_mark.line + 1, "mapping keys must be plain scalars")
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise YamlRefused(line, f'duplicate key "{key}" (first defined at line {seen[key]})')
            seen[key] = line
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key is None or isinstance(key, (list, dict)):
                raise YamlRefused(key_node.start_mark.line + 1, "mapping keys must be strings")
            mapping[key_text(key)] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_map(self, node: MappingNode):  # type: ignore[no-untyped-def]
        """Mappings are built in one go (keeps duplicate-key checks simple)."""
        yield self.construct_mapping(node, deep=True)

    def construct_undefined(self, node: Node) -> Any:
        """Refuse explicit tags that are not plain data (``!!python/...``, custom tags)."""
        raise YamlRefused(node.start_mark.line + 1, f"the tag {node.tag} is not allowed (plain YAML data only)")


ComposeConstructor.add_constructor(NUMBER_TAG, ComposeConstructor.construct_number)
ComposeConstructor.add_constructor("tag:yaml.org,2002:merge", SafeConstructor.construct_scalar)
ComposeConstructor.add_constructor("tag:yaml.org,2002:map", ComposeConstructor.construct_yaml_map)
ComposeConstructor.add_constructor(None, ComposeConstructor.construct_undefined)
for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    ComposeConstructor.add_constructor(f"tag:yaml.org,2002:{_tag}", ComposeConstructor.construct_undefined)


class PureComposeYamlLoader(Reader, Scanner, Parser, Composer, ComposeConstructor, CoreSchemaResolver):
    """PyYAML loader assembled from the safe constructor and the Compose (YAML 1.2) resolver."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        ComposeConstructor.__init__(self)
        CoreSchemaResolver.__init__(self)


if CParser is not None:

    class FastComposeYamlLoader(CParser, ComposeConstructor, CoreSchemaResolver):  # type: ignore[misc,valid-type]
        """The same loader on libyaml's parser (about twenty times faster on large files)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            ComposeConstructor.__init__(self)
            CoreSchemaResolver.__init__(self)

    ComposeYamlLoader: type = FastComposeYamlLoader
else:  # pragma: no cover - PyYAML wheels ship libyaml
    ComposeYamlLoader = PureComposeYamlLoader


def key_text(key: Any) -> str:
    """A mapping key as the string Compose uses (``true`` for a boolean key, ``1`` for an integer)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float):
        from .scalars import go_float_text

        return go_float_text(key)
    return str(key)


def expanded_size(root: Node) -> tuple[int, int]:
    """(nodes, bytes) of the document with every alias expanded; raises YamlRefused past MAX_NODES nodes or
    MAX_EXPANDED_BYTES bytes.

    A scalar counts its UTF-8 length plus one; a collection one plus what it holds; an alias counts what it
    expands to, each time it is used. Sizes are memoised per node, so this takes time proportional to the
    text, and the refusal comes before anything is built.
    """
    sizes: dict[int, tuple[int, int]] = {}
    in_progress: set[int] = set()

    def refuse(node: Node, nodes: int, size: int) -> None:
        if nodes > MAX_NODES:
            raise YamlRefused(
                node.start_mark.line + 1,
                f"the document expands to more than {MAX_NODES} nodes through aliases (a YAML bomb?)",
            )
        if size > MAX_EXPANDED_BYTES:
            raise YamlRefused(
                node.start_mark.line + 1,
                f"the document expands to more than {MAX_EXPANDED_BYTES} bytes through aliases (a YAML bomb?)",
            )

    def measure(node: Node) -> tuple[int, int]:
        """Expanded (nodes, bytes) of one node, memoised per node object."""
        ident = id(node)
        if ident in sizes:
            return sizes[ident]
        if ident in in_progress:
            raise YamlRefused(node.start_mark.line + 1, "recursive alias: an anchor is used inside itself")
        in_progress.add(ident)
        nodes, size = 1, 1
        if isinstance(node, ScalarNode):
            size += len(str(node.value).encode("utf-8", "surrogatepass"))
        else:
            children = node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
            for child in children:
                more_nodes, more_bytes = measure(child)
                nodes, size = nodes + more_nodes, size + more_bytes
                refuse(node, nodes, size)
        refuse(node, nodes, size)
        in_progress.discard(ident)
        sizes[ident] = (nodes, size)
        return nodes, size

    return measure(root)


def unshared_copy(value: Any) -> Any:
    """A copy in which no list or mapping is shared (aliases yield shared objects; later stages mutate)."""
    if isinstance(value, dict):
        return {key: unshared_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unshared_copy(item) for item in value]
    return value


def _tab_lines(text: str) -> list[int]:
    """Numbers of the lines whose indentation contains a tab."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent and line.strip():
            found.append(number)
    return found


def read_yaml(content: str | bytes, where: str = "") -> tuple[Any, list[Problem]]:
    """Parse one Compose file: (data, []) or (None, problems). ``where`` prefixes paths, e.g. ``file 2 ``."""
    whole = f"({where.strip() or 'file'})"
    raw = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    if len(raw) > MAX_BYTES:
        return None, [Problem(whole, f"the file is {len(raw)} bytes; Compose files over {MAX_BYTES} bytes are refused")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [Problem(whole, f"the file is not valid UTF-8 text (byte {error.start})")]
    text = text.removeprefix("\ufeff")
    loader = ComposeYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [Problem(whole, "the file is empty; it must be a mapping with a services section")]
        expanded_size(node)
        data = loader.construct_document(node)
    except YamlRefused as refused:
        return None, [Problem(f"{where}line {refused.line}" if refused.line else whole, refused.message)]
    except yaml.MarkedYAMLError as error:
        tabs = _tab_lines(text)
        if tabs:
            return None, [
                Problem(
                    f"{where}line {line}", "a tab character is used for indentation; YAML indentation must use spaces"
                )
                for line in tabs
            ]
        mark = error.problem_mark or error.context_mark
        message = error.problem or str(error)
        if "expected a single document" in str(error):
            message = "only one YAML document per file is supported (found a second document)"
        if error.context and "expected a single document" not in str(error):
            message = f"{message} ({error.context})"
        return None, [Problem(f"{where}line {mark.line + 1}" if mark else whole, f"invalid YAML: {message}")]
    except yaml.YAMLError as error:
        return None, [Problem(whole, f"invalid YAML: {error}")]
    except RecursionError:
        return None, [Problem(whole, "the document is nested too deeply")]
    finally:
        loader.dispose()
    return unshared_copy(data), []
