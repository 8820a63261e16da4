"""data/replace-keys.yaml, the table `tools.plan --diff` reads to say `replace`: an entry for every type
the program registers, each naming the provider source it was read from and whether the locked
version itself could be read; every key a real input of the locked SDK; a key it does not know
stays unknown (never a guess)."""

from __future__ import annotations

import importlib
import re
from importlib.metadata import version

import pytest

from tools.review import replace_keys
from tools.review.replace_keys import forces_replace, load_table

SDKS = {
    "hcloud": "pulumi_hcloud",
    "cloudflare": "pulumi_cloudflare",
    "digitalocean": "pulumi_digitalocean",
    "command": "pulumi_command",
}


def args_class(token: str):
    """The locked SDK's ``<Type>Args`` class for a type token (``hcloud:index/server:Server``)."""
    package, module, name = token.split(":")
    sdk = importlib.import_module(SDKS[package])
    if module != "index" and not module.startswith("index/"):
        sdk = importlib.import_module(f"{SDKS[package]}.{module}")
    return getattr(sdk, f"{name}Args")


def snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def top(key: str) -> str:
    return re.split(r"[.\[]", key, maxsplit=1)[0]


def test_every_type_the_program_registers_has_an_entry(plan):
    def hetzner(c):
        c["socialcoop-infra:hosts"]["alpha"]["kind"] = "hetzner_cloud"

    def bootstrap(c):  # the VPS bootstrap's command types
        vps = c["socialcoop-infra:hosts"]["alpha"]["vps"]
        vps.update(
            bootstrap=True,
            ipv4="192.0.2.50",
            ipv6="2001:db8:50::2",
            ssh_host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + "D" * 43,
        )
        c["socialcoop-infra:bootstrap_ssh_key"] = {"secure": "v1:bm90LWEtcmVhbC1jaXBoZXJ0ZXh0"}

    plans = [plan("prod"), plan("alpha"), plan("alpha", hetzner), plan("alpha", bootstrap)]
    types = {r.type for p in plans for r in p.resources if r.custom}
    assert {"command:remote:Command", "hcloud:index/server:Server"} <= types
    assert sorted(types - set(load_table())) == []


@pytest.mark.parametrize("token", list(load_table()))
def test_each_entry_names_its_source_and_the_locked_provider(token):
    entry = load_table()[token]
    source = entry["source"]
    assert {"provider", "upstream", "file", "ref", "locked_version_read"} <= set(source), token
    package, locked = source["provider"].split()
    assert version(package) == locked, (
        f"{token}: read for {locked}, the lock has {version(package)}: read it again"
    )
    if not source["locked_version_read"]:
        assert "unknown" in source["upstream"] or "newest readable" in source["upstream"], token
    assert entry.get("replace_order"), token


@pytest.mark.parametrize("token", list(load_table()))
def test_every_key_is_an_input_of_the_locked_sdk(token):
    entry = load_table()[token]
    args = args_class(token)
    keys = [
        *entry.get("replace", []),
        *entry.get("update", []),
        *entry.get("unknown", []),
        *(entry.get("update_caveats") or {}),
    ]
    missing = sorted(
        {
            top(k)
            for k in keys
            if top(k) != "*" and not isinstance(getattr(args, snake(top(k)), None), property)
        }
    )
    assert missing == [], f"{token}: not inputs of {args.__name__}: {missing}"


def test_replace_update_and_unknown():
    dns = "cloudflare:index/dnsRecord:DnsRecord"
    assert forces_replace(dns, "zoneId") is True and forces_replace(dns, "content") is False
    assert forces_replace(dns, "includeShadowMetadata") is None  # in the locked SDK, not in any source read
    assert forces_replace("hcloud:index/server:Server", "sshKeys") is True
    assert forces_replace("hcloud:index/server:Server", "publicNets") is False  # publicNets[].ipv4 updates
    assert forces_replace("hcloud:index/server:Server", "notAKey") is None
    assert forces_replace("someprovider:index/thing:Thing", "x") is None
    assert replace_keys.replace_order("hcloud:index/server:Server").startswith("delete-before-replace")
