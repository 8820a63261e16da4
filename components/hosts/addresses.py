"""What other components (DNS, inventory) need to know about a host."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class HostAddresses:
    fqdn: str
    ipv4: pulumi.Input[str]
    ipv6: pulumi.Input[str] | None  # None: the host has no IPv6 address
