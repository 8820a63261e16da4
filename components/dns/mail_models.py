"""What a stack file says about mail authentication (components/dns/mail_auth.py builds the
records, components/dns/checks.py checks them with the rest of the zone)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from components.core import values
from components.core.types import (
    Bool,
    Model,
    Named,
    Refused,
    RelativeName,
    canonical_name,
    choice,
    label,
    pattern,
    text,
    whole,
)

SPF_ALL = ("-all", "~all")
DMARC_POLICIES = ("none", "quarantine", "reject")
# Every value spliced into a record is checked against that record's grammar, so it cannot end
# its term or tag, or the record's quoted string (mail_auth.py checks again when it builds).
# SPF (RFC 7208 section 5, 7.1): a domain, or for exists: a macro-string; never `"` or `\`,
# which a TXT record only holds escaped (the declared TXT records refuse them too).
_DOMAIN_SPEC = r"[a-z0-9._-]+"
_MACRO_STRING = r"(?:[!#$&-\[\]-~]|%\{[slodiphcrtv][0-9]*r?[-.+,/_=]*\}|%%|%_|%-)+"
MECHANISM = re.compile(
    rf"^(include:{_DOMAIN_SPEC}|a(:{_DOMAIN_SPEC})?|mx(:{_DOMAIN_SPEC})?|ptr(:{_DOMAIN_SPEC})?"
    rf"|exists:{_MACRO_STRING}|ip4:[!#-\[\]-~]+|ip6:[!#-\[\]-~]+)$",  # ip4:/ip6: parsed after
    re.ASCII,
)
LOOKUP_FREE = ("ip4:", "ip6:")
# Report addresses (DMARC rua/ruf, RFC 7489 section 6.4; TLS-RPT rua, RFC 8460 section 3;
# CAA iodef, RFC 8659 section 4.4): a mailto: or https: URI (RFC 3986) whose characters cannot
# end the URI list or the tag: no `,` `!` `;` (percent-encode them), no space, `"` or `\`.
# DMARC alone takes a size limit after the URI, `!10m` (RFC 7489 section 6.4).
_URI_CHAR = r"(?:[A-Za-z0-9._~:/?#\[\]@$&'()*+=-]|%[0-9A-Fa-f]{2})"
_LOCAL_CHAR = r"(?:[A-Za-z0-9._~$&'*+=-]|%[0-9A-Fa-f]{2})"
_URI = rf"(?:mailto:{_LOCAL_CHAR}+@[A-Za-z0-9.-]+|https://[A-Za-z0-9.-]+(?::[0-9]{{1,5}})?(?:/{_URI_CHAR}*)?)"
URI = re.compile(rf"^{_URI}$")
DMARC_URI = re.compile(rf"^{_URI}(?:![0-9]{{1,15}}[kmgt]?)?$")
URI_RULE = 'a mailto: or https:// URI, with , ! ; percent-encoded and no space, " or \\'
ISSUER = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+\.?$", re.ASCII)
DKIM_KEY = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
POLICY_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


def _mechanism_problem(mech: str) -> str | None:
    kind, _, arg = mech.partition(":")
    if kind in ("ip4", "ip6"):
        return values.network_problem(arg, int(kind[-1]))
    if arg and kind != "exists":  # exists: takes SPF macros, not a plain domain
        return values.domain_problem(arg)
    return None


def _uri_problem(uri: str) -> str | None:
    uri = uri.split("!", 1)[0]  # a DMARC size limit
    domain = uri.rsplit("@", 1)[-1] if uri.lower().startswith("mailto:") else uri.split("/")[2].split(":")[0]
    return values.domain_problem(domain)


MAX_URI = 255  # a report address: mailto: and an address of at most 254 (RFC 5321), or a short https URL
Uri = Annotated[str, pattern(URI, URI_RULE, problem=_uri_problem, max_length=MAX_URI)]
DmarcUri = Annotated[
    str,
    pattern(
        DMARC_URI, URI_RULE + "; a size limit may follow, e.g. !10m", problem=_uri_problem, max_length=MAX_URI
    ),
]
Policy = Annotated[str, choice(DMARC_POLICIES)]
Alignment = Annotated[str, choice(("r", "s"))]


class Sender(Named):
    mechanism: Annotated[
        str,
        pattern(
            MECHANISM,
            "an SPF mechanism: include:, a, mx, exists:, ip4:, ip6:",
            problem=_mechanism_problem,
            max_length=255,
        ),
    ] = Field(
        description="one SPF mechanism: `include:…`, `a`, `mx`, `exists:…`, `ip4:…`, `ip6:…`, `ptr`; at most "
        "255 characters (one TXT string)"
    )
    lookups: Annotated[int, whole(0, 10)] = Field(
        0,  # not set: right for ip4:/ip6:, refused for the others (_costs)
        description="DNS lookups the mechanism costs, nested includes counted; 0 to 10 (SPF allows 10 in all)",
        json_schema_extra={"x-default": "`0` for `ip4:`/`ip6:`, otherwise required"},
    )
    comment: Annotated[str, text(200)] | None = Field(
        None, description="who this is and why they send: one line of at most 200 characters, for reviewers"
    )

    @model_validator(mode="after")
    def _costs(self) -> Sender:
        free = self.mechanism.startswith(LOOKUP_FREE)
        if not free and "lookups" not in self.model_fields_set:
            raise Refused("this key is required", "lookups")
        if not free and self.lookups < 1:
            raise Refused(
                f"{self.mechanism.split(':')[0]} costs at least one DNS lookup", "lookups", self.lookups
            )
        if free and self.lookups:
            raise Refused("ip4:/ip6: cost no DNS lookups; use 0", "lookups", self.lookups)
        return self


class Spf(Model):
    name: RelativeName = Field(description="where the record goes: `@`, `mg`")
    senders: tuple[Annotated[str, label()], ...] = Field(description="names from `mail.senders`")
    all: Annotated[str, choice(SPF_ALL)] = Field(
        "-all", description="`-all` (fail others) or `~all` (soft fail)"
    )


class Dmarc(Model):
    name: RelativeName = Field(
        "@", description="the domain it covers: `@` writes `_dmarc`, `alpha` writes `_dmarc.alpha`"
    )
    p: Policy = Field(description="`none`, `quarantine`, `reject`")
    sp: Policy | None = Field(
        None,
        description="policy for subdomains: `none`, `quarantine`, `reject`",
        json_schema_extra={"x-default": "none (same as `p`)"},
    )
    pct: Annotated[int, whole(0, 100)] = Field(100, description="0 to 100")
    rua: tuple[DmarcUri, ...] = Field(
        (),
        description="aggregate report addresses: `mailto:` or `https://` URIs (`,` `!` `;` percent-encoded), "
        f"each optionally with a size limit such as `!10m`; at most {MAX_URI} characters each",
    )
    ruf: tuple[DmarcUri, ...] = Field((), description="failure report addresses, as `rua`")
    adkim: Alignment = Field("r", description="DKIM alignment: `r` (relaxed) or `s` (strict)")
    aspf: Alignment = Field("r", description="SPF alignment: `r` or `s`")


class Dkim(Model):
    name: RelativeName = Field(description="the sending name: `mg` for mg.social.coop, `@` for the apex")
    selector: Annotated[str, label("a selector label, e.g. k1")] = Field(
        description="the selector label, e.g. `k1` (record at `k1._domainkey.mg`)"
    )
    public_key: Annotated[str, pattern(DKIM_KEY, "the base64 p= value of the DKIM key", max_length=4096)] = (
        Field(
            description="the base64 `p=` value, from the sender's settings; the TXT record it makes holds at most "
            "2048 characters (checked on the record)"
        )
    )
    key_type: Annotated[str, choice(("rsa", "ed25519"))] = Field("rsa", description="`rsa` or `ed25519`")


Issuer = Annotated[
    str,
    pattern(
        ISSUER,
        "a CA domain, e.g. letsencrypt.org",
        problem=values.domain_problem,
        then=canonical_name,
        max_length=254,
    ),
]


class Caa(Model):
    issuers: tuple[Issuer, ...] = Field(("letsencrypt.org",), description="CA domains")
    iodef: Uri = Field(
        description=f"where CAs report refused requests: `mailto:` or `https://` URI, at most {MAX_URI} characters",
        json_schema_extra={"x-default": "required in `caa`"},
    )
    wildcard: Bool = Field(
        False, description='`false` also writes `issuewild ";"`: no CA may issue wildcard certificates'
    )

    @field_validator("issuers")
    @classmethod
    def _some_issuers(cls, issuers: tuple[str, ...]) -> tuple[str, ...]:
        if not issuers:  # no issue record: every CA could issue for the domain
            raise Refused("at least one CA domain, e.g. [letsencrypt.org] (without one, any CA may issue)")
        for i, issuer in enumerate(issuers):
            if issuer in issuers[:i]:
                raise Refused("each CA once", f"[{i}]", issuer)
        return issuers


class MtaSts(Model):
    mode: Annotated[str, choice(("testing", "enforce", "none"))] = Field(
        "testing", description="`testing`, `enforce`, `none`"
    )
    policy_id: Annotated[
        str, pattern(POLICY_ID, "1-32 letters and digits; change it when the policy changes", max_length=32)
    ] = Field(
        description="1 to 32 letters and digits; change it whenever the policy changes",
        json_schema_extra={"x-default": "required in `mta_sts`"},
    )
    tlsrpt_rua: tuple[Uri, ...] = Field(
        (),
        description="TLS report addresses: `mailto:` or `https://` URIs (`,` `!` `;` percent-encoded), at most "
        f"{MAX_URI} characters each",
    )


SenderName = Annotated[str, label("not a valid sender name")]


class Mail(Model):
    """Builders for the mail-authentication records; the program writes the TXT/CAA records."""

    senders: dict[SenderName, Sender] = Field(
        {}, description="who may send for the domain, by name (`mail.senders.<name>`)"
    )
    spf: tuple[Spf, ...] = Field((), description="one SPF record per item")
    dmarc: tuple[Dmarc, ...] = Field((), description="one DMARC record per item")
    dkim: tuple[Dkim, ...] = Field((), description="one DKIM key record per item")
    no_mail: tuple[RelativeName, ...] = Field(
        (), description="names that send no mail: each gets `v=spf1 -all`"
    )
    no_mail_hosts: Bool = Field(True, description="also every host name")
    caa: Caa | None = Field(None, description="which certificate authorities may issue for the domain")
    mta_sts: MtaSts | None = Field(None, description="MTA-STS and TLS reporting")

    @model_validator(mode="after")
    def _named_senders(self) -> Mail:
        for name, s in self.senders.items():
            s.named(name)
        known = tuple(self.senders) or ("(define senders first)",)
        for i, spf in enumerate(self.spf):
            for j, name in enumerate(spf.senders):
                if name not in self.senders:
                    raise Refused(f"allowed: {', '.join(known)}", f"spf[{i}].senders[{j}]", name)
        return self
