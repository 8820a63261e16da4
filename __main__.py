"""social.coop infrastructure: load the stack config, declare the components, export outputs.

Read top to bottom; the resources live in components/. Try it offline with
`python -m tools.plan alpha`.
"""

import functools
import gc

import pulumi

from components.core import boundary, costs
from components.core.config import load_from_pulumi
from components.core.protection import Protection
from components.dns.hetzner_zone import HetznerZone, HetznerZoneArgs, dns_token
from components.dns.zone import Zone, ZoneArgs
from components.hosts.addresses import HostAddresses
from components.hosts.admin_keys import AdminKeys, AdminKeysArgs
from components.hosts.hetzner_server import HetznerServer, HetznerServerArgs
from components.hosts.inventory import render_inventory, ssh_command
from components.hosts.playbook import AnsiblePlaybook, AnsiblePlaybookArgs
from components.hosts.vps_host import VpsHost, VpsHostArgs
from components.storage.bucket import SpacesBucket, SpacesBucketArgs
from components.storage.key import SpacesKey, SpacesKeyArgs
from components.storage.settings import (
    NO_BACKUPS,
    NO_MEDIA_BUCKET,
    NO_STORAGE,
    backup_targets,
    mastodon_s3_env,
)

# The Pulumi SDK allocates many short-lived objects per resource; with Python's default
# collector thresholds a 1,000-record stack spent most of its time in garbage collection
# (measured with `python -m benchmarks.plan`, see README). Collect less often.
gc.set_threshold(100_000, 50, 100)

cfg = load_from_pulumi()
# protect / adopting from the stack file, the same for every component (components/core/protection.py)
protection = Protection.of(cfg)
if cfg.decommission is not None:  # prod with protect: false, on purpose (docs/config.md)
    pulumi.warn(f"prod protection is OFF for a decommission: {cfg.decommission}")
    pulumi.export("decommission", cfg.decommission)

# --- hosts: Hetzner Cloud servers and non-cloud hosts ----------------------------------
# One HetznerServer or VpsHost per host (docs/servers.md); the Hetzner servers share the
# admins' SSH keys, which Hetzner allows once per project. `addresses`: what DNS needs.
admin_keys = None
if any(h.kind == "hetzner_cloud" for h in cfg.hosts.values()):
    admin_keys = AdminKeys("admin-keys", AdminKeysArgs(cfg.admins, cfg.environment, protection))
key_ids = admin_keys.ids if admin_keys is not None else []
machines: dict[str, HetznerServer | VpsHost] = {}
for name, h in cfg.hosts.items():
    if h.kind == "hetzner_cloud":
        server_args = HetznerServerArgs(h, cfg.admins, cfg.environment, protection, key_ids)
        machines[name] = HetznerServer(name, server_args)
    else:
        machines[name] = VpsHost(name, VpsHostArgs(h, cfg.admins, protection, cfg.bootstrap_ssh_key))
addresses: dict[str, HostAddresses] = {name: m.addresses for name, m in machines.items()}
ipv4s = pulumi.Output.all(**{name: a.ipv4 for name, a in addresses.items()})
inventory = ipv4s.apply(lambda ips: render_inventory(cfg.hosts, ips))
# the hand-off: the stack's own playbook, if it names one, once the hosts are up
if cfg.ansible is not None:
    AnsiblePlaybook("ansible", AnsiblePlaybookArgs(cfg.ansible, inventory, list(machines.values())))

# --- DNS and mail authentication --------------------------------------------------------
# The same records at each provider in dns.providers (docs/dns.md): one Cloudflare record per
# declared or generated record; one Hetzner record set per name and type (and, in prod, the
# zone). Hosts' addresses fill in `host:` references.
if "cloudflare" in cfg.dns.providers:
    zone = Zone("social-coop", ZoneArgs(cfg, addresses))
hetzner_dns = None
if "hetzner" in cfg.dns.providers:
    hetzner_dns = HetznerZone("hetzner-dns", HetznerZoneArgs(cfg, addresses, dns_token()))

# --- object storage ---------------------------------------------------------------------
# Spaces buckets and one key per stack with read/write on this stack's buckets only.
# No storage section: no bucket, no key; Mastodon keeps media on local disk.
bucket_cfgs = tuple(cfg.storage.buckets.values()) if cfg.storage else ()
buckets = [SpacesBucket(b.name, SpacesBucketArgs(b, cfg.environment, protection)) for b in bucket_cfgs]
storage_key = None
if buckets:
    own = [b.bucket_name for b in buckets]
    key_name = boundary.spaces_key_name(cfg.environment)  # components/core/boundary.py
    storage_key = SpacesKey("storage", SpacesKeyArgs(key_name, own, protection))
media = next((b for b in bucket_cfgs if b.mastodon), None)

# --- outputs ----------------------------------------------------------------------------
pulumi.export("environment", cfg.environment)
# hosts: how to reach each one, and an Ansible inventory grouped by role (docs/servers.md)
pulumi.export(
    "hosts",
    {
        name: {"fqdn": a.fqdn, "ipv4": a.ipv4, "ipv6": a.ipv6, "ssh": ssh_command(cfg.hosts[name])}
        for name, a in addresses.items()
    },
)
pulumi.export("ansible_inventory", inventory)
pulumi.export("monthly_cost", costs.monthly_cost(cfg))  # estimate excl. VAT: docs/costs.md
# DNS: the name servers to give the registrar when the zone moves to Hetzner (docs/dns-cutover.md)
if hetzner_dns is not None and hetzner_dns.nameservers is not None:
    pulumi.export("hetzner_nameservers", hetzner_dns.nameservers)
# storage: the .env.production block (secret: it holds the key) and where dumps go
if storage_key is not None and media is not None:
    keys = pulumi.Output.all(storage_key.access_key, storage_key.secret_key)
    s3_env = functools.partial(mastodon_s3_env, cfg.environment, media)
    env_block = keys.apply(lambda k: s3_env(k[0], k[1]))
    pulumi.export("mastodon_s3", pulumi.Output.secret(env_block))
else:
    pulumi.export("mastodon_s3", NO_STORAGE if cfg.storage is None else NO_MEDIA_BUCKET)
pulumi.export("backup_target", backup_targets(cfg) or (NO_STORAGE if cfg.storage is None else NO_BACKUPS))
