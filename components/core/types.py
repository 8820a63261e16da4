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

from components.core import values
from components.core.errors import MISSING, NOT_SHOWN, REPO_ROOT, unknown_key

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
        for k in data:
            if k not in keys:
                raise Refused(unknown_key(str(k), sorted(keys)), key=str(k), value=NOT_SHOWN)
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


def _string(allowed: str | None, max_length: int | None = None) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise Refused(allowed or "expected a string")
        if max_length is not None and len(v) > max_length:
            raise Refused(f"at most {max_length} characters" + (f"; {allowed}" if allowed else ""))
        return v

    return check


Str = checked(str, _string(None), str)  # unbounded: a field of free text wants Text(max_chars)


def Pattern(
    regex: re.Pattern,
    allowed: str | None = None,
    schema: str | None = None,
    problem=None,
    then=None,
    max_length: int | None = None,
) -> Any:
    """Text of at most ``max_length`` characters that fully matches ``regex`` and passes
    ``problem`` (a values.*_problem function); ``then`` normalises it."""
    as_string = _string(allowed, max_length)

    def check(v: Any) -> str:
        if not regex.fullmatch(as_string(v)):
            raise Refused(allowed or f"must match {regex.pattern}")
        found = problem(v) if problem is not None else None
        if found:
            raise Refused(found)
        return then(v) if then else v

    constraints = StringConstraints(pattern=schema or regex.pattern, max_length=max_length)
    return checked(str, check, Annotated[str, constraints])


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
    digits = StringConstraints(pattern=r"^-?\d{1,18}$", max_length=19)
    return checked(int, check, number | Annotated[str, digits])


def _bool(v: Any) -> bool:
    if v in ("true", "false"):
        return v == "true"  # Pulumi passes scalar config as strings
    if not isinstance(v, bool):
        raise Refused("expected true or false")
    return v


Bool = checked(bool, _bool, bool | Literal["true", "false"])


def Amount(hi: float, allowed: str) -> Any:
    """A finite number from 0 to ``hi`` (``allowed`` says why that bound)."""

    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise Refused("expected a number")
        if isinstance(v, float) and not math.isfinite(v):
            raise Refused("expected a number")
        if not 0 <= v <= hi:  # an int of any size compares without becoming a float
            raise Refused(allowed)
        return float(v)

    return checked(float, check, Annotated[float, Field(ge=0, le=hi)])


def Address(version: int) -> Any:
    def check(v: Any) -> str:
        problem = values.address_problem(v, version)
        if problem:
            raise Refused(problem)
        return str(ipaddress.ip_address(v))

    return checked(str, check, Annotated[str, StringConstraints(max_length=45)])  # the longest IPv6 text


def Text(max_chars: int, allowed: str | None = None, max_bytes: int | None = None) -> Any:
    """One line of printable text, not empty (leave the key out instead), of at most
    ``max_chars`` characters (and ``max_bytes`` bytes of UTF-8): the bound its consumer has."""
    as_string = _string(allowed)

    def check(v: Any) -> str:
        if not as_string(v):
            raise Refused(allowed or "empty: write the text, or leave the key out")
        problem = values.text_problem(v, max_chars, max_bytes)
        if problem:
            raise Refused(problem)
        return v

    schema = r"^[^\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]+$"
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
    return (
        len(name.rstrip(".")) <= 253 and len(labels) >= 2 and all(HOSTNAME_LABEL.fullmatch(x) for x in labels)
    )


def canonical_name(name: str) -> str:
    """The one form a domain name is kept and compared in: lower case, no trailing dot."""
    return name.rstrip(".").lower()


def HostName(allowed: str) -> Any:
    """A full domain name (the zone, the instance, a host, an alias), kept in its canonical
    form: `rhizome.social.coop.` and `rhizome.social.coop` are one name."""
    return Passing(fqdn_ok, allowed, FQDN_SCHEMA, max_length=254, then=canonical_name)


def Label(allowed: str = "a lowercase name (a-z, 0-9, -)") -> Any:
    """A DNS label: host, sender, provider and subdomain names."""
    return Pattern(HOSTNAME_LABEL, allowed, max_length=63)


# A user name Debian's useradd and adduser take: a lowercase letter first, at most 32 characters.
USER_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$", re.ASCII)


def UserName(allowed: str = "a user name: a lowercase letter, then a-z, 0-9, -") -> Any:
    """An account on a host: an admin, the bootstrap's or Ansible's user."""
    return Pattern(USER_NAME, allowed, max_length=32)


def Passing(
    rule: Callable[[str], bool], allowed: str, schema: str, max_length: int | None = None, then=None
) -> Any:
    """Text of at most ``max_length`` characters that passes ``rule`` (host names; the names
    of entries in a mapping of named entries: records, buckets); ``schema`` is the rule as a
    JSON Schema pattern; ``then`` normalises it."""

    def check(v: Any) -> str:
        if not isinstance(v, str) or (max_length is not None and len(v) > max_length) or not rule(v):
            raise Refused(allowed)
        return then(v) if then else v

    return checked(str, check, Annotated[str, StringConstraints(pattern=schema, max_length=max_length)])


def relative_name_ok(name: str) -> bool:
    """A DNS name relative to the zone: '@' or labels (``*``, ``_service``...)."""
    return name == "@" or all(DNS_LABEL.fullmatch(x) for x in name.split("."))


RELATIVE_SCHEMA = r"^(@|(\*|_?[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.(\*|_?[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?))*)$"
MAX_NAME = 253  # a domain name's text (RFC 1035 §2.3.4)
RelativeName = Passing(
    relative_name_ok,
    "a name relative to the zone, '@' for the apex",
    RELATIVE_SCHEMA,
    max_length=MAX_NAME,
    then=str.lower,  # DNS names are not case-sensitive: one form for every comparison
)


class Secure(Model):
    secure: Annotated[str, StringConstraints(max_length=65536)] = Field(
        description="Ciphertext written by `pulumi config set --secret`."
    )
