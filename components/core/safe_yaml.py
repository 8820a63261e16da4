"""Reading a stack file safely: bytes in, plain values (dict, list, str, int, float, bool,
None) out, or one ConfigError line naming the file and the line.

PyYAML alone would let a hand-edited file crash or hang the plan: bytes that are not
UTF-8, nesting thousands deep (a RecursionError, or a crash inside libyaml's C code),
a "billion laughs" of nested aliases, a 5,000-digit number, a date or a non-string key.
Here the event stream is checked for depth before anything is built, values are built
by hand with a budget for what aliases expand to, and only the types JSON has (the
types Pulumi hands the program) are accepted. Merge keys (``<<: *defaults``) work.

Plain (unquoted) scalars are read as the Pulumi CLI reads the stack file: Go's
gopkg.in/yaml.v3 (v3.0.1, ``resolve()`` in resolve.go), not YAML 1.1 as PyYAML does. So
``yes``, ``no``, ``on``, ``off``, ``y``, ``n`` and ``22:22`` are text, not booleans or a
base-60 number; only ``true/True/TRUE`` and ``false/False/FALSE`` are booleans;
``~``, ``null``, ``Null``, ``NULL`` and nothing are null; ``0777`` and ``0o777`` are octal,
``0x1F`` hex, ``0b1`` binary, ``1_000`` is 1000 (underscores dropped), ``+1`` is 1, ``1e3``
and ``08`` are floats, and a number too big for 64 bits is text (or a float, when it is
spelt like one). Where the two could read a spelling differently and it matters, the
reader refuses it with "quote it": a date or time (yaml.v3 reads ``2024-01-01`` as a
timestamp), ``.inf``/``.nan``, an explicit ``!!int``/``!!bool``/``!!float``/``!!null`` tag.
"""

from __future__ import annotations

import codecs
import copy
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from components.core.errors import ConfigError
from components.core.values import shown_name

MAX_DEPTH = 40  # stack files nest about 6 deep
MAX_VALUES = 100_000  # values after expanding aliases; the prod file has about 1,000
_T = "tag:yaml.org,2002:"
PLAIN = "tag:socialcoop,2026:plain"  # an untagged plain scalar: resolved by yaml_v3_scalar()


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # a base chosen at run time
    """PyYAML's (libyaml's) parser and composer; plain scalars left for yaml_v3_scalar()."""

    def resolve(self, kind: Any, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return f"{_T}merge" if value == "<<" else PLAIN
        return super().resolve(kind, value, implicit)


YAML_ONLY = {"timestamp": "a date or time", "binary": "binary data", "set": "a set", "omap": "an ordered map"}

# --- yaml.v3's resolve() (resolve.go), for plain scalars
V3_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
V3_NULL = ("", "~", "null", "Null", "NULL")
V3_NOT_FINITE = tuple(f"{s}{v}" for s in ("", "+", "-") for v in (".inf", ".Inf", ".INF")) + (
    ".nan",
    ".NaN",
    ".NAN",
)
V3_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")  # yamlStyleFloat
# strconv.ParseInt(s, 0, 64): an optional sign, then 0x/0o/0b, a leading 0 (octal) or decimal
GO_INT = re.compile(r"([-+]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|0[bB]([01]+)|(0[0-7]*)|([1-9][0-9]*))")
DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")  # what yaml.v3 tries as a timestamp


class Unclear(ValueError):
    """A plain scalar the plan will not guess at: ``allowed`` says what to write instead."""


def yaml_v3_scalar(text: str) -> Any:
    """The value yaml.v3 resolves an untagged plain scalar to (or Unclear)."""
    if text in V3_BOOL:
        return V3_BOOL[text]
    if text in V3_NULL:
        return None
    if text in V3_NOT_FINITE:
        raise Unclear(f"{text} is not a finite number")
    first = text[0]
    if first == ".":
        if re.fullmatch(r"\.[0-9]+([eE][-+]?[0-9]+)?", text):
            return _finite(float(text), text)
        if set(text) <= set("0123456789._eE+-"):  # Go's ParseFloat may or may not take it
            raise Unclear(f"{text[:40]} may be read as a number or as text; quote it if it is text")
        return text
    if first not in "+-0123456789":
        return text
    if DATE.match(text):
        raise Unclear("a date or time is not allowed here; quote the value to make it text")
    plain = text.replace("_", "")
    m = GO_INT.fullmatch(plain)
    if m and len(plain) <= 70:  # longer: far beyond 64 bits
        sign, hex_, oct_, bin_, zero, dec = m.groups()
        digits, base = next((d, b) for d, b in ((hex_, 16), (oct_, 8), (bin_, 2), (zero, 8), (dec, 10)) if d)
        value = int(digits, base) * (-1 if sign == "-" else 1)
        if -(2**63) <= value < 2**63 or (not sign and value < 2**64):  # ParseInt, then ParseUint
            return value
    if V3_FLOAT.fullmatch(plain):
        number = float(plain)
        if math.isfinite(number):  # Go's ParseFloat fails out of range: yaml.v3 keeps the text
            return number
    return text


def _finite(value: float, text: str) -> Any:
    return value if math.isfinite(value) else text


BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


# (reader, bytes) -> document: a plan and its checks read one file several times
_PARSED: dict[tuple[str, bytes], Any] = {}
_KEEP = 64


def _once(reader: str, data: bytes, parse: Callable[[], Any]) -> Any:
    """parse() of these bytes, run once (a ConfigError is raised again each time, never kept);
    a fresh copy for each caller."""
    if (reader, data) not in _PARSED:
        doc = parse()
        if len(_PARSED) >= _KEEP:
            _PARSED.clear()
        _PARSED[reader, data] = doc
    return copy.deepcopy(_PARSED[reader, data])


def load(data: bytes, label: str) -> Any:
    """The document in ``data`` (the bytes of a YAML file) as plain values."""
    return _once("stack file", data, lambda: _parse(data, label))


def load_data(path: Path) -> Any:
    """One of the repository's own data files (data/*.yaml, the cloud-init parts): trusted, read
    as PyYAML reads YAML, by libyaml when it is there."""
    data = path.read_bytes()
    return _once("data", data, lambda: yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def _parse(data: bytes, label: str) -> Any:
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
        inside = enclosing_path(text)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        where = ", ".join(w for w in (where, f"inside {inside}" if inside else "") if w)
        where = f" ({where})" if where else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())  # libyaml's may span lines
        raise ConfigError(label, "", None, f"not valid YAML{where}: {problem}") from None


def enclosing_path(text: str) -> str:
    """The key path the parser was in when the text stopped being YAML (``socialcoop-infra:hosts.
    alpha``, the stack file's ``config:`` left out), from the events before the error; "" if none."""
    frames: list[list] = []  # [is_mapping, key or index, waiting for a key]

    def value_done() -> None:
        if frames and frames[-1][0]:
            frames[-1][2] = True
        elif frames:
            frames[-1][1] += 1

    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                if frames and frames[-1][0] and frames[-1][2]:  # a mapping as a key: no name for it
                    frames[-1][1:] = ["?", False]
                frames.append(
                    [
                        isinstance(event, yaml.MappingStartEvent),
                        None if isinstance(event, yaml.MappingStartEvent) else 0,
                        True,
                    ]
                )
            elif isinstance(event, yaml.CollectionEndEvent):
                frames.pop()
                value_done()
            elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                if frames and frames[-1][0] and frames[-1][2]:
                    frames[-1][1:] = [getattr(event, "value", "*"), False]
                else:
                    value_done()
    except yaml.YAMLError:
        pass
    parts = []
    for depth, (is_mapping, at, waiting) in enumerate(frames):
        if is_mapping and not waiting and at is not None:
            parts.append(str(at))
        elif not is_mapping and depth < len(frames) - 1:  # an element that is itself open
            parts.append(f"[{at}]")
    path = ""
    for part in parts:
        path += part if not path or part.startswith("[") else f".{part}"
    return path.removeprefix("config.")


def _fail(label: str, node: yaml.Node | yaml.Event | None, message: str) -> ConfigError:
    mark = node.start_mark if node is not None else None
    where = f"line {mark.line + 1}: " if mark is not None else ""
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

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == PLAIN:
            try:
                return yaml_v3_scalar(node.value)
            except Unclear as e:
                raise _fail(self.label, node, str(e)) from None
        if node.tag == f"{_T}str":  # quoted, a block scalar, or tagged !!str
            return node.value
        kind = node.tag.removeprefix(_T)
        if kind in ("int", "float", "bool", "null"):  # YAML 1.1 and yaml.v3 read some differently
            raise _fail(self.label, node, f"YAML tag !!{kind} is not allowed; write the value without it")
        what = YAML_ONLY.get(kind, f"YAML tag {node.tag}")
        raise _fail(self.label, node, f"{what} is not allowed here; quote the value to make it text")

    def _mapping(self, node: yaml.MappingNode, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == f"{_T}merge":
                merged += value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                continue
            key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):  # yaml.v3 reads it as a number, a boolean or null
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a list or mapping"
                raise _fail(self.label, key_node, f"key {shown_name(str(shown))!r} is not text; quote it")
            if key in out:
                raise _fail(self.label, key_node, f"duplicate key {shown_name(key)!r}")
            out[key] = self.build(value_node, depth + 1)
        for source in merged:  # explicit keys win, then earlier merged mappings (YAML merge spec)
            if not isinstance(source, yaml.MappingNode):
                raise _fail(self.label, source, "<< (merge) takes a mapping or a list of mappings")
            for k, v in self.build(source, depth + 1).items():
                out.setdefault(k, v)
        return out
