"""DNS records as data: resolve the stack's records and check them before anything is registered."""

from __future__ import annotations

from components.config import ConfigError, StackConfig


def check(cfg: StackConfig) -> None:
    """Raise ConfigError for the first record that breaks a rule."""
    for r in cfg.dns.records:
        if r.host is not None and r.host not in cfg.hosts:
            raise ConfigError(
                cfg.source,
                f"{r.path}.host",
                r.host,
                f"not a host in hosts; known: {', '.join(cfg.hosts) or '(none)'}",
            )
