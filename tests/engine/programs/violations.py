"""A test program for the policy pack: registers exactly one resource shape chosen by $VIOLATION.

Each shape breaks one rule of policy/rules.py ("ok-*" shapes break none); the real engine must
refuse the preview with that rule's message. Real SDK classes, so the real engine sees real types.
"""

import os

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_digitalocean as do
import pulumi_hcloud as hcloud
from pulumi_command import remote

ZONE = "00000000000000000000000000000000"
shape = os.environ["VIOLATION"]
protected = pulumi.ResourceOptions(protect=True)


def record(name: str, opts=None):
    cloudflare.DnsRecord("r", zone_id=ZONE, name=name, type="A", content="192.0.2.1", ttl=300, opts=opts)


def server(opts):
    hcloud.Server("s", server_type="cx23", image="ubuntu-24.04", location="fsn1", opts=opts)


if shape == "prod-unprotected-record":
    record("social.coop")
elif shape == "prod-server-without-ignores":
    server(pulumi.ResourceOptions(protect=True, ignore_changes=["userData"]))
elif shape == "ok-prod":
    record("social.coop", protected)
    server(pulumi.ResourceOptions(protect=True, ignore_changes=["userData", "sshKeys", "image"]))
elif shape == "full-access-key":
    do.SpacesKey("k", name="socialcoop-infra-alpha", grants=[{"bucket": "", "permission": "fullaccess"}])
elif shape == "alpha-owns-www":
    record("www.social.coop")
elif shape == "alpha-prod-bucket":
    do.SpacesBucket("b", name="social-coop-media", region="ams3")
elif shape == "alpha-protected":
    record("alpha.social.coop", protected)
elif shape == "firewall-mysql":
    hcloud.Firewall(
        "f", rules=[{"direction": "in", "protocol": "tcp", "port": "3306", "source_ips": ["0.0.0.0/0"]}]
    )
elif shape == "alpha-bootstraps-pando":  # the address Pulumi.prod.yaml gives pando
    conn = remote.ConnectionArgs(host="198.51.100.20", user="root", private_key="not-a-real-key")
    remote.Command("bootstrap", connection=conn, create="true")
elif shape == "alpha-server-named-hypha":
    hcloud.Server("hypha", name="hypha", server_type="cx23", image="ubuntu-24.04", location="fsn1")
elif shape == "alpha-rdns-on-prod-name":
    hcloud.Rdns("ptr", primary_ip_id=1, ip_address="192.0.2.44", dns_ptr="rhizome.social.coop")
elif shape == "prod-record-under-alpha":
    record("mail.alpha.social.coop", protected)
elif shape == "prod-bucket-of-alphas":
    do.SpacesBucket("b", name="alpha-social-coop-media", region="ams3", opts=protected)
elif shape == "prod-unprotected-volume":
    hcloud.Volume("v", size=10, location="fsn1")
elif shape == "ok-alpha":
    record("alpha.social.coop")
    do.SpacesKey(
        "k",
        name="socialcoop-infra-alpha",
        grants=[{"bucket": "alpha-social-coop-media", "permission": "readwrite"}],
    )
    hcloud.Firewall(
        "f",
        rules=[
            {"direction": "in", "protocol": "tcp", "port": "443", "source_ips": ["0.0.0.0/0"]},
            {"direction": "in", "protocol": "icmp", "source_ips": ["0.0.0.0/0"]},
        ],
    )
else:
    raise SystemExit(f"unknown VIOLATION {shape!r}")
