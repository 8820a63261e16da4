"""A value type is ``Annotated[<python type>, <rule>]`` (components/core/types.py): the reader and
the type checker take the python type at its word, so each rule must give back a value of
exactly that type. A rule that gave an int to a ``str`` field would refuse every valid value,
and only for the keys a committed stack file happens to set."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator

from components.core import types
from components.core.stack import StackConfig


def models(root: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """The model and every model its fields hold, each once."""
    seen: set[type] = set()
    todo: list[Any] = [root]
    while todo:
        t = todo.pop()
        if isinstance(t, type) and issubclass(t, BaseModel):
            if t not in seen:
                seen.add(t)
                yield t
                todo += [f.annotation for f in t.model_fields.values()]
        else:
            todo += typing.get_args(t)


def rules(annotation: Any, metadata: list[Any]) -> Iterator[tuple[Any, BeforeValidator]]:
    """(python type, rule) for each BeforeValidator in a field's type, nested ones included
    (``tuple[X, ...]``, ``X | None``, a mapping's keys)."""
    for m in metadata:
        if isinstance(m, BeforeValidator):
            yield annotation, m
    if typing.get_origin(annotation) is Annotated:
        inner, *meta = typing.get_args(annotation)
        yield from rules(inner, meta)
    else:
        for arg in typing.get_args(annotation):
            yield from rules(arg, [])


def typed_rules(root: type[BaseModel]) -> list[tuple[str, str, str]]:
    """(field, the type the rule gives, the field's python type) for each rule that says what it
    gives (the modules use `from __future__ import annotations`: the names as text)."""
    return [
        (f"{model.__name__}.{name}", returns, python_type.__name__)
        for model in models(root)
        for name, field in model.model_fields.items()
        for python_type, rule in rules(field.annotation, field.metadata)
        if (returns := inspect.signature(rule.func).return_annotation) not in ("Any", inspect.Signature.empty)
    ]


def test_every_rule_gives_its_fields_python_type():
    found = typed_rules(StackConfig)
    fields = {where for where, _, _ in found}
    assert {"ExtraPort.port", "Host.roles", "Record.ttl", "Dns.records_", "Ansible.playbook"} <= fields
    assert [
        f"{where}: the rule gives {gives}, the field says {says}"
        for where, gives, says in found
        if gives != says
    ] == []


def test_a_rule_of_another_type_is_found():
    class Wrong(types.Model):
        port: Annotated[str, types.whole(1, 65535)]
        ports: tuple[Annotated[int, types.whole(1, 65535)], ...] | None = None

    assert typed_rules(Wrong) == [("Wrong.port", "int", "str"), ("Wrong.ports", "int", "int")]
