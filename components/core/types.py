"""What every stack-file model shares: the frozen base model, the rule failure ``Refused``,
and the value types with our wording (Pulumi's scalars included: `pulumi config set`
writes `"true"` and `"300"` as text).

A value type is ``Annotated[<python type>, <rule>]``, e.g. ``Annotated[int, whole(1, 65535)]``:
the python type is what the program (and the type checker) sees once validated; the rule, made
by one of the functions below, is a pydantic ``BeforeValidator`` whose check refuses a bad value
with the "allowed" part of the one-line error, and whose input type is what the JSON Schema
(schema/stack.schema.json) says about the value. A type used in several places gets a name
(``Bool``, ``UserName``, ``RelativeName``, a model's ``Ttl``). A list in the file is a tuple in
the model (frozen, hashable): ``tuple[X, ...]``, pydantic's own check says "expected a list"
(config.WORDS).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Sequence
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
        private = self.__pydantic_private__
        assert private is not None, "only a model with private attributes has them"
        return private[key]


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


# --------------------------------------------------------------------------- scalars


def _string(allowed: str | None, max_length: int | None = None) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise Refused(allowed or "expected a string")
        if max_length is not None and len(v) > max_length:
            raise Refused(f"at most {max_length} characters" + (f"; {allowed}" if allowed else ""))
        return v

    return check


def pattern(
    regex: re.Pattern[str],
    allowed: str | None = None,
    schema: str | None = None,
    problem: Callable[[str], str | None] | None = None,
    then: Callable[[str], str] | None = None,
    max_length: int | None = None,
) -> BeforeValidator:
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
    return BeforeValidator(check, json_schema_input_type=Annotated[str, constraints])


def choice(options: Sequence[str]) -> BeforeValidator:
    """One of ``options`` (text)."""
    options = tuple(options)

    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise Refused("expected a string")
        if v not in options:
            raise Refused(f"allowed: {', '.join(options)}")
        return v

    return BeforeValidator(check, json_schema_input_type=Literal[options])


def whole(
    lo: int | None = None,
    hi: int | None = None,
    allowed: str | None = None,
    ok: Callable[[int], bool] | None = None,
) -> BeforeValidator:
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
    return BeforeValidator(check, json_schema_input_type=number | Annotated[str, digits])


def _bool(v: Any) -> bool:
    if v in ("true", "false"):
        return v == "true"  # Pulumi passes scalar config as strings
    if not isinstance(v, bool):
        raise Refused("expected true or false")
    return v


Bool = Annotated[bool, BeforeValidator(_bool, json_schema_input_type=bool | Literal["true", "false"])]


def amount(hi: float, allowed: str) -> BeforeValidator:
    """A finite number from 0 to ``hi`` (``allowed`` says why that bound)."""

    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise Refused("expected a number")
        if isinstance(v, float) and not math.isfinite(v):
            raise Refused("expected a number")
        if not 0 <= v <= hi:  # an int of any size compares without becoming a float
            raise Refused(allowed)
        return float(v)

    return BeforeValidator(check, json_schema_input_type=Annotated[float, Field(ge=0, le=hi)])


def address(version: int) -> BeforeValidator:
    """An IP address of that version, kept in its canonical text."""

    def check(v: Any) -> str:
        problem = values.address_problem(v, version)
        if problem:
            raise Refused(problem)
        return str(ipaddress.ip_address(v))

    longest = StringConstraints(max_length=45)  # the longest IPv6 text
    return BeforeValidator(check, json_schema_input_type=Annotated[str, longest])


def text(max_chars: int, allowed: str | None = None, max_bytes: int | None = None) -> BeforeValidator:
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
    constraints = StringConstraints(pattern=schema, max_length=max_chars)
    return BeforeValidator(check, json_schema_input_type=Annotated[str, constraints])


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


def passing(
    rule: Callable[[str], bool],
    allowed: str,
    schema: str,
    max_length: int | None = None,
    then: Callable[[str], str] | None = None,
) -> BeforeValidator:
    """Text of at most ``max_length`` characters that passes ``rule`` (host names; the names
    of entries in a mapping of named entries: records, buckets); ``schema`` is the rule as a
    JSON Schema pattern; ``then`` normalises it."""

    def check(v: Any) -> str:
        if not isinstance(v, str) or (max_length is not None and len(v) > max_length) or not rule(v):
            raise Refused(allowed)
        return then(v) if then else v

    constraints = StringConstraints(pattern=schema, max_length=max_length)
    return BeforeValidator(check, json_schema_input_type=Annotated[str, constraints])


def host_name(allowed: str) -> BeforeValidator:
    """A full domain name (the zone, the instance, a host, an alias), kept in its canonical
    form: `rhizome.social.coop.` and `rhizome.social.coop` are one name."""
    return passing(fqdn_ok, allowed, FQDN_SCHEMA, max_length=254, then=canonical_name)


def label(allowed: str = "a lowercase name (a-z, 0-9, -)") -> BeforeValidator:
    """A DNS label: host, sender, provider and subdomain names."""
    return pattern(HOSTNAME_LABEL, allowed, max_length=63)


# A user name Debian's useradd and adduser take: a lowercase letter first, at most 32 characters.
USER_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$", re.ASCII)
# An account on a host: an admin, the bootstrap's or Ansible's user.
UserName = Annotated[
    str, pattern(USER_NAME, "a user name: a lowercase letter, then a-z, 0-9, -", max_length=32)
]


def relative_name_ok(name: str) -> bool:
    """A DNS name relative to the zone: '@' or labels (``*``, ``_service``...)."""
    return name == "@" or all(DNS_LABEL.fullmatch(x) for x in name.split("."))


RELATIVE_SCHEMA = r"^(@|(\*|_?[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.(\*|_?[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?))*)$"
MAX_NAME = 253  # a domain name's text (RFC 1035 §2.3.4)


def relative_name(allowed: str = "a name relative to the zone, '@' for the apex") -> BeforeValidator:
    """A DNS name relative to the zone, kept in lower case: DNS names are not case-sensitive,
    so one form serves every comparison."""
    return passing(relative_name_ok, allowed, RELATIVE_SCHEMA, max_length=MAX_NAME, then=str.lower)


RelativeName = Annotated[str, relative_name()]


class Secure(Model):
    secure: Annotated[str, StringConstraints(max_length=65536)] = Field(
        description="Ciphertext written by `pulumi config set --secret`."
    )
