"""Inbound firewall rules for a host, and the same rules as nftables text (pure).

Hetzner Cloud servers get them as the provider's firewall (components/hosts/hetzner_server.py),
which filters every packet before it reaches the server, ports Docker publishes included;
hosts without a cloud firewall (rhizome, pando) get them as an nftables table that the SSH
bootstrap installs (cloud-init/firewall.yaml): the input chain for the host's own ports and
the forward chain for the ports Docker publishes (forwarded to containers, never seen by the
input chain). One list, so every kind of host opens exactly the same ports, IPv4 and IPv6.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.core.values import line_safe

NFT_COMMENT_MAX = 128  # bytes: nftables refuses a longer rule comment

ANY = ["0.0.0.0/0", "::/0"]


def inbound_rules(ssh_port: int = 22, extra_ports: Sequence = ()) -> list[dict]:
    """SSH, HTTP, HTTPS, ICMP, then ssh_port (when not 22) and the extra ports, each with its reason.

    Nothing outbound: all outbound traffic is allowed.
    """
    rules = [
        {"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ANY, "description": "SSH"},
        {"direction": "in", "protocol": "tcp", "port": "80", "source_ips": ANY, "description": "HTTP"},
        {"direction": "in", "protocol": "tcp", "port": "443", "source_ips": ANY, "description": "HTTPS"},
        {"direction": "in", "protocol": "icmp", "source_ips": ANY, "description": "ICMP (ping, path MTU)"},
    ]
    if ssh_port != 22:
        rules.append(
            {
                "direction": "in",
                "protocol": "tcp",
                "port": str(ssh_port),
                "source_ips": ANY,
                "description": "SSH (ssh_port)",
            }
        )
    rules += [
        {
            "direction": "in",
            "protocol": p.protocol,
            "port": str(p.port),
            "source_ips": ANY,
            "description": p.reason,
        }
        for p in extra_ports
    ]
    opened = [(r["protocol"], r.get("port")) for r in rules]
    twice = sorted({f"{port}/{proto}" for proto, port in opened if opened.count((proto, port)) > 1})
    if twice:  # the loader refuses it (models/hosts.py); never two rules for one port
        raise ValueError(f"opened twice: {', '.join(twice)}")
    return rules


def _comment(rule: dict) -> str:
    """A rule's description as an nft comment: one line, no `"` (nft has no escape for it)."""
    comment = line_safe(rule["description"], "nftables rule comment").replace('"', "'")
    if len(comment.encode()) > NFT_COMMENT_MAX:
        raise ValueError(f"nftables rule comment over {NFT_COMMENT_MAX} bytes: {comment[:40]!r}...")
    return comment


def nft_rules(rules: Sequence[dict]) -> str:
    """The accept rules of the nftables input chain, one per line (IPv4 and IPv6: table inet)."""
    lines = []
    for r in rules:
        comment = _comment(r)
        if r["protocol"] == "icmp":
            lines.append(f'meta l4proto icmp accept comment "{comment}"')
            lines.append('meta l4proto icmpv6 accept comment "ICMPv6 (neighbour discovery, ping, path MTU)"')
        else:
            lines.append(f'{r["protocol"]} dport {r["port"]} accept comment "{comment}"')
    return "\n".join(lines)


def nft_forward_rules(rules: Sequence[dict]) -> str:
    """The accept rules of the nftables forward chain: a new connection forwarded from outside
    (to a port Docker publishes) passes when the port the client connected to is on the list.
    ``ct original proto-dst`` is that port as it was before Docker's DNAT rewrote it to the
    container's; ICMP needs no rule (errors about a connection are ``related``)."""
    lines = []
    for r in rules:
        if r["protocol"] in ("tcp", "udp"):
            lines.append(
                f'meta l4proto {r["protocol"]} ct original proto-dst {r["port"]} accept comment "{_comment(r)}"'
            )
    return "\n".join(lines)
