"""What every stack-file model shares: the frozen base model, the rule failure ``Refused``,
and the value types with our wording (Pulumi's scalars included: `pulumi config set`
writes `"true"` and `"300"` as text).

A type here is ``Annotated[<python type>, BeforeValidator(check, json_schema_input_type=...)]``:
``check`` refuses a bad value with the "allowed" part of the one-line error, and the input
type is what the JSON Schema (schema/stack.schema.json) says about the value.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    model_validator,
)

from components import values
from components.errors import MISSING, REPO_ROOT

PROVIDERS = yaml.safe_load((REPO_ROOT / "data" / "providers.yaml").read_text())
HOSTNAME_LABEL, DNS_LABEL = values.HOSTNAME_LABEL, values.DNS_LABEL


class Refused(ValueError):
    """A value a rule refuses: ``allowed`` is what the error line says is allowed; ``key``
    (a sub-path such as ``port`` or ``spf[0].senders[1]``) and ``value`` point below the
    place the validator checks, when the rule is about one of its keys."""

    def __init__(self, allowed: str, key: str | None = None, value: Any = MISSING):
        super().__init__(allowed)
        self.allowed, self.key, self.value = allowed, key, value


_KEYS: dict[type, frozenset[str]] = {}  # each model's keys as written in a stack file


class Model(BaseModel):
    """Frozen, no unknown keys; a key set to nothing (`key:` alone) counts as not set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise Refused("expected a mapping (key: value pairs)")
        keys = _KEYS.get(cls) or _KEYS.setdefault(
            cls, frozenset(f.alias or n for n, f in cls.model_fields.items())
        )
        for k, v in data.items():
            if k not in keys:
                raise Refused(f"unknown key; allowed here: {', '.join(sorted(keys))}", key=str(k), value=v)
        return {k: v for k, v in data.items() if v is not None}

    def _private(self, key: str) -> Any:
        """A private attribute (a name given by the parent), read directly: ``self._x``
        goes through pydantic's __getattr__, slow in the record checks' loops."""
        return self.__pydantic_private__[key]


class Named(Model):
    """An entry of a mapping of named entries (a host, a sender, a bucket, a record): its
    name is the mapping's key, given by the parent model once validated (``named``)."""

    _name: str = PrivateAttr("")

    @property
    def name(self) -> str:
        return self._private("_name")

    def named(self, name: str) -> Self:
        self._name = name
        return self


def checked(python_type: Any, check: Callable[[Any], Any], schema_type: Any) -> Any:
    return Annotated[python_type, BeforeValidator(check, json_schema_input_type=schema_type)]


# --------------------------------------------------------------------------- scalars


def _string(allowed: str | None) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise Refused(allowed or "expected a string")
        return v

    return check


Str = checked(str, _string(None), str)


def Pattern(
    regex: re.Pattern, allowed: str | None = None, schema: str | None = None, problem=None, then=None
) -> Any:
    """Text that fully matches ``regex`` and passes ``problem`` (a values.*_problem function);
    ``then`` normalises it."""
    as_string = _string(allowed)

    def check(v: Any) -> str:
        if not regex.fullmatch(as_string(v)):
            raise Refused(allowed or f"must match {regex.pattern}")
        found = problem(v) if problem is not None else None
        if found:
            raise Refused(found)
        return then(v) if then else v

    return checked(str, check, Annotated[str, StringConstraints(pattern=schema or regex.pattern)])


def Choice(options: tuple[str, ...] | list[str]) -> Any:
    options = tuple(options)

    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise Refused("expected a string")
        if v not in options:
            raise Refused(f"allowed: {', '.join(options)}")
        return v

    return checked(str, check, Literal[options])


def Whole(lo: int | None = None, hi: int | None = None, allowed: str | None = None, ok=None) -> Any:
    """A whole number (or its digits as text), from ``lo`` to ``hi``, passing ``ok``."""

    def check(v: Any) -> int:
        if isinstance(v, str) and re.fullmatch(r"-?\d{1,18}", v):
            v = int(v)  # Pulumi passes scalar config as strings
        if isinstance(v, bool) or not isinstance(v, int):
            raise Refused(allowed or "expected a whole number")
        if (lo is not None and v < lo) or (hi is not None and v > hi) or (ok is not None and not ok(v)):
            raise Refused(allowed or f"expected a number from {lo} to {hi}")
        return v

    number = Annotated[int, Field(ge=lo, le=hi)]
    return checked(int, check, number | Annotated[str, StringConstraints(pattern=r"^-?\d{1,18}$")])


def _bool(v: Any) -> bool:
    if v in ("true", "false"):
        return v == "true"  # Pulumi passes scalar config as strings
    if not isinstance(v, bool):
        raise Refused("expected true or false")
    return v


Bool = checked(bool, _bool, bool | Literal["true", "false"])


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise Refused("expected a number")
    if v < 0:
        raise Refused("expected a number of at least 0")
    return float(v)


Amount = checked(float, _number, Annotated[float, Field(ge=0)])


def Address(version: int) -> Any:
    def check(v: Any) -> str:
        problem = values.address_problem(v, version)
        if problem:
            raise Refused(problem)
        return str(ipaddress.ip_address(v))

    return checked(str, check, str)


def Text(max_chars: int | None = None, allowed: str | None = None) -> Any:
    """One line of printable text."""
    as_string = _string(allowed)

    def check(v: Any) -> str:
        problem = values.text_problem(as_string(v), max_chars)
        if problem:
            raise Refused(problem)
        return v

    schema = r"^[^\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$"
    return checked(str, check, Annotated[str, StringConstraints(pattern=schema, max_length=max_chars)])


def Items(item: Any, what: str = "") -> Any:
    """A list in the file, a tuple in the model (frozen, hashable)."""

    def check(v: Any) -> Any:
        if not isinstance(v, (list, tuple)):
            raise Refused(f"expected a list{what}")
        return v

    return checked(tuple[item, ...], check, list[item])


# --------------------------------------------------------------------------- names

FQDN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$")
FQDN_SCHEMA = FQDN.pattern.replace("(?=.{1,253}$)", "")  # no look-ahead in the schema


def fqdn_ok(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return len(name) <= 253 and len(labels) >= 2 and all(HOSTNAME_LABEL.fullmatch(x) for x in labels)


def HostName(allowed: str) -> Any:
    return Passing(fqdn_ok, allowed, FQDN_SCHEMA, max_length=254)


def Label(allowed: str = "a lowercase name (a-z, 0-9, -)") -> Any:
    """A DNS label: host, admin, sender, provider and subdomain names."""
    return Pattern(HOSTNAME_LABEL, allowed)


def Passing(rule: Callable[[str], bool], allowed: str, schema: str, max_length: int | None = None) -> Any:
    """Text that passes ``rule`` (host names; the names of entries in a mapping of named
    entries: records, buckets); ``schema`` is the rule as a JSON Schema pattern."""

    def check(v: Any) -> str:
        if not isinstance(v, str) or not rule(v):
            raise Refused(allowed)
        return v

    return checked(str, check, Annotated[str, StringConstraints(pattern=schema, max_length=max_length)])


def relative_name_ok(name: str) -> bool:
    """A DNS name relative to the zone: '@' or labels (``*``, ``_service``...)."""
    return name == "@" or all(DNS_LABEL.fullmatch(x) for x in name.split("."))


RELATIVE_SCHEMA = r"^(@|(\*|_?[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.(\*|_?[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?))*)$"
RelativeName = Passing(relative_name_ok, "a name relative to the zone, '@' for the apex", RELATIVE_SCHEMA)
