"""Reading a stack file safely: bytes in, plain values (dict, list, str, int, float, bool,
None) out, or one ConfigError line naming the file and the line.

PyYAML alone would let a hand-edited file crash or hang the plan: bytes that are not
UTF-8, nesting thousands deep (a RecursionError, or a crash inside libyaml's C code),
a "billion laughs" of nested aliases, a 5,000-digit number, a date or a non-string key.
Here the event stream is checked for depth before anything is built, values are built
by hand with a budget for what aliases expand to, and only the types JSON has (the
types Pulumi hands the program) are accepted. Merge keys (``<<: *defaults``) work.
"""

from __future__ import annotations

import codecs
import math
from typing import Any

import yaml

from components.errors import ConfigError

MAX_DEPTH = 40  # stack files nest about 6 deep
MAX_VALUES = 100_000  # values after expanding aliases; the prod file has about 1,000
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_T = "tag:yaml.org,2002:"
SCALAR_TAGS = {f"{_T}{t}" for t in ("str", "int", "float", "bool", "null")}
YAML_ONLY = {"timestamp": "a date or time", "binary": "binary data", "set": "a set", "omap": "an ordered map"}
BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


def load(data: bytes, label: str) -> Any:
    """The document in ``data`` (the bytes of a YAML file) as plain values."""
    text = _decode(data, label)
    try:
        _check_depth(text, label)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            return None if node is None else _Builder(label, loader).build(node, 0)
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())  # libyaml's may span lines
        raise ConfigError(label, "", None, f"not valid YAML{where}: {problem}") from None


def _fail(label: str, node: yaml.Node | None, message: str) -> ConfigError:
    where = f"line {node.start_mark.line + 1}: " if node is not None else ""
    return ConfigError(label, "", None, where + message)


def _decode(data: bytes, label: str) -> str:
    for bom, name in BOMS.items():
        if data.startswith(bom):
            raise ConfigError(label, "", None, f"the file is {name} text; save it as UTF-8")
    try:
        return data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(
            label, "", None, f"line {line}: byte 0x{data[e.start]:02x} is not UTF-8; save the file as UTF-8"
        ) from None


def _check_depth(text: str, label: str) -> None:
    """Refuse deep nesting from the event stream, before any recursive code sees it."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _fail(label, event, f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


class _Builder:
    """Plain values from a composed node graph (aliases are shared nodes, possibly cycles)."""

    def __init__(self, label: str, loader: Any):
        self.label, self.loader, self.count = label, loader, 0

    def build(self, node: yaml.Node, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _fail(
                self.label,
                node,
                f"more than {MAX_VALUES} values once aliases (*name) are expanded; an alias bomb?",
            )
        if depth > MAX_DEPTH:  # only a recursive alias gets here: plain nesting was checked
            raise _fail(self.label, node, "an alias (*name) refers to itself")
        if isinstance(node, yaml.SequenceNode):
            self._tag(node, "seq")
            return [self.build(child, depth + 1) for child in node.value]
        if isinstance(node, yaml.MappingNode):
            self._tag(node, "map")
            return self._mapping(node, depth)
        return self._scalar(node)

    def _tag(self, node: yaml.Node, kind: str) -> None:
        if node.tag != f"{_T}{kind}":
            raise _fail(self.label, node, f"YAML tag {node.tag} is not allowed; remove it")

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag not in SCALAR_TAGS:
            what = YAML_ONLY.get(node.tag.removeprefix(_T), f"YAML tag {node.tag}")
            raise _fail(self.label, node, f"{what} is not allowed here; quote the value to make it text")
        try:
            value = self.loader.construct_object(node)
        except ValueError:  # e.g. an int with more digits than Python converts
            raise _fail(
                self.label, node, f"a number of {len(node.value)} characters; quote it if it is text"
            ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(self.label, node, f"{node.value} is not a finite number")
        return value

    def _mapping(self, node: yaml.MappingNode, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == f"{_T}merge":
                merged += value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != f"{_T}str":
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a list or mapping"
                raise _fail(self.label, key_node, f"key {str(shown)[:40]!r} is not text; quote it")
            if key_node.value in out:
                raise _fail(self.label, key_node, f"duplicate key {key_node.value[:40]!r}")
            out[key_node.value] = self.build(value_node, depth + 1)
        for source in merged:  # explicit keys win, then earlier merged mappings (YAML merge spec)
            if not isinstance(source, yaml.MappingNode):
                raise _fail(self.label, source, "<< (merge) takes a mapping or a list of mappings")
            for k, v in self.build(source, depth + 1).items():
                out.setdefault(k, v)
        return out
