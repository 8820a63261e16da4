"""social.coop infrastructure: load the stack config, declare the components, export outputs.

Read top to bottom; the resources live in components/. Try it offline with
`python -m tools.plan alpha`.
"""

import pulumi

from components.config import load_from_pulumi
from components.host_addresses import HostAddresses

cfg = load_from_pulumi()

# --- hosts: Hetzner Cloud servers and non-cloud hosts ----------------------------------
addresses = {
    name: HostAddresses(h.fqdn, h.vps.ipv4, h.vps.ipv6) for name, h in cfg.hosts.items() if h.vps is not None
}

# --- DNS and mail authentication --------------------------------------------------------

# --- object storage ---------------------------------------------------------------------

# --- outputs ----------------------------------------------------------------------------
pulumi.export("environment", cfg.environment)
