"""What a stack file says about mail authentication (components/mail_auth.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from components import config
from components.models.common import URI, Bool, HostLabel, Model, whole
from components.models.dns import RecordName

Policy = Literal[config.DMARC_POLICIES]


class Sender(Model):
    mechanism: str = Field(pattern=config.MECHANISM.pattern, description="One SPF mechanism.")
    lookups: whole(0, 10) | None = Field(None, description="DNS lookups it costs; 0 for ip4:/ip6:.")
    comment: str = ""


class Spf(Model):
    name: RecordName
    senders: list[HostLabel]
    all: Literal[config.SPF_ALL] = "-all"


class Dmarc(Model):
    name: RecordName = "@"
    p: Policy
    sp: Policy | None = None
    pct: whole(0, 100) = 100
    rua: list[URI] = []
    ruf: list[URI] = []
    adkim: Literal["r", "s"] = "r"
    aspf: Literal["r", "s"] = "r"


class Dkim(Model):
    name: RecordName
    selector: HostLabel
    public_key: str = Field(pattern=r"^[A-Za-z0-9+/]+={0,2}$", description="The base64 p= value.")
    key_type: Literal["rsa", "ed25519"] = "rsa"


class Caa(Model):
    issuers: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9.-]+$")]] = ["letsencrypt.org"]
    iodef: URI
    wildcard: Bool = False


class MtaSts(Model):
    mode: Literal["testing", "enforce", "none"] = "testing"
    policy_id: str = Field(pattern=r"^[A-Za-z0-9]{1,32}$")
    tlsrpt_rua: list[URI] = []


class Mail(Model):
    senders: dict[HostLabel, Sender] = {}
    spf: list[Spf] = []
    dmarc: list[Dmarc] = []
    dkim: list[Dkim] = []
    no_mail: list[RecordName] = []
    no_mail_hosts: Bool = True
    caa: Caa | None = None
    mta_sts: MtaSts | None = None
