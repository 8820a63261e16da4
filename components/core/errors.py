"""The loader's error and secret types, shared by every module that validates config.

No imports from other components but ``values``, so the domain modules (DNS records, mail
builders, cloud-init) can raise ConfigError without importing the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from components.core import values

PROJECT = "socialcoop-infra"
REPO_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(pulumi.RunError):
    """A user's mistake in a stack file. Pulumi prints RunError without a traceback."""

    def __init__(self, source: str, path: str, value: Any, allowed: str):
        self.source, self.path, self.value, self.allowed = source, path, value, allowed
        shown = "(missing)" if value is MISSING else _show(value, path)
        where = f"{PROJECT}:{values.shown_path(path)} = {shown}: " if path else ""  # no path: the file
        if path and value is NOT_SHOWN:  # the key itself is wrong: lead with it, not with its value
            where = f"{PROJECT}:{values.shown_path(path)}: "
        super().__init__(values.one_line(f"{source}: {where}{allowed}"))


class Missing:
    def __repr__(self) -> str:
        return "(missing)"


MISSING = Missing()


class NotShown:
    """A value left out of the message: the key itself is the mistake (a misspelt key)."""

    def __repr__(self) -> str:
        return "(not shown)"


NOT_SHOWN = NotShown()


def unknown_key(key: str, allowed: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    """What an unknown key's message says: the nearest allowed name, if one is close, and all of them."""
    import difflib

    near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return f"unknown key{hint}; allowed here: {', '.join(allowed)}"


def _show(value: Any, path: str) -> str:
    return "[secret]" if isinstance(value, Secret) else values.show(value, path)


@dataclass(frozen=True)
class Secret:
    """A config secret. Its repr never shows the value; components wrap it in
    ``pulumi.Output.secret`` so it stays a secret in state and outputs."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret([secret])"
