"""Types shared by the domain models: Pulumi's scalars (a stack file may hold `"true"` or
`"300"` as text, which is how `pulumi config set` writes them), names and the model base."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from components import config


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def pattern(regex) -> type[str]:
    return Annotated[str, StringConstraints(pattern=regex.pattern)]


def whole(lo: int | None = None, hi: int | None = None) -> type:
    return Annotated[int, Field(ge=lo, le=hi)] | Annotated[str, StringConstraints(pattern=r"^-?\d+$")]


Bool = bool | Literal["true", "false"]
HostLabel = pattern(config.HOSTNAME_LABEL)
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$")]
URI = pattern(config.URI)
Ttl = whole(1, 86400)
