"""Monthly cost estimate of a stack, from its config and the price table in data/prices.yaml.

Pure functions, no Pulumi resources: ``estimate(cfg, prices)`` returns a ``CostReport``,
``render_text(report)`` prints it, ``to_output(report)`` is the ``monthly_cost`` stack output.

Rules (docs/costs.md):
- Prices exclude VAT and stay in the currency the provider bills in (EUR, USD); the
  report never converts between currencies.
- A price that is not known (a server type missing from the table, a non-cloud host
  without ``vps.monthly_price``) is ``None`` and counted as unknown, never as zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.core import boundary, safe_yaml
from components.core.errors import REPO_ROOT
from components.core.stack import StackConfig
from components.hosts.models import HetznerCloud, Vps

PRICES_FILE = REPO_ROOT / "data" / "prices.yaml"


@dataclass(frozen=True)
class Line:
    resource: str  # the host or bucket it belongs to
    what: str
    amount: float | None  # per month; None = unknown
    currency: str | None  # None only when even the currency is unknown
    why_unknown: str = ""


@dataclass(frozen=True)
class CostReport:
    stack: str
    source: str  # the stack file
    lines: tuple[Line, ...]
    totals: dict[str, float]  # currency -> sum of the known amounts
    checked: dict[str, str]  # provider -> date its prices were checked
    notes: tuple[str, ...]  # charges that depend on usage and are not estimated

    @property
    def unknowns(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.amount is None)


def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    return safe_yaml.load_data(path)


# --------------------------------------------------------------------------- estimate


def _hetzner_lines(name: str, h: HetznerCloud, prices: dict[str, Any]) -> list[Line]:
    p = prices["hetzner_cloud"]
    eur = p["currency"]
    server = p["server_types"].get(h.server_type)
    why = ""
    unpriced = p.get("no_price") or {}
    if server is None and h.server_type in (unpriced.get("server_types") or []):
        why = f"no price for {h.server_type}: {unpriced.get('reason', 'none confirmed')}; prices checked {p['checked']}"
    elif server is None:
        why = f"no price for {h.server_type}: {h.server_type} is not in data/prices.yaml"
    elif h.location not in p["price_locations"]:
        server, why = None, f"data/prices.yaml has no prices for location {h.location}"
    lines = [Line(f"{name}-server", f"Hetzner Cloud server {h.server_type} ({h.location})", server, eur, why)]
    if h.backups:
        backup = None if server is None else round(server * p["backup_percent"] / 100, 4)
        lines.append(
            Line(f"{name}-server", f"backups ({p['backup_percent']}% of the server)", backup, eur, why)
        )
    lines.append(Line(f"{name}-ipv4", "primary IPv4", p["primary_ipv4"], eur))
    lines.append(Line(f"{name}-ipv6", "primary IPv6", p["primary_ipv6"], eur))
    if h.volume_gb:
        lines.append(
            Line(
                f"{name}-volume",
                f"volume {h.volume_gb} GB",
                round(h.volume_gb * p["volume_per_gb"], 4),
                eur,
            )
        )
    return lines


def _vps_line(name: str, v: Vps, source: str) -> Line:
    what = f"{v.provider} server (price entered by hand)"
    if v.monthly_price is None:
        return Line(name, what, None, None, f"no vps.monthly_price for {name} in {source}")
    return Line(name, what, v.monthly_price.amount, v.monthly_price.currency)


def _spaces_lines(
    cfg: StackConfig, p: dict[str, Any], stored_gib: float | None
) -> tuple[list[Line], list[str]]:
    buckets = tuple(cfg.storage.buckets.values()) if cfg.storage else ()
    if not buckets:
        return [], []
    usd = p["currency"]
    names = ", ".join(b.name for b in buckets)
    lines = [
        Line(
            "spaces",
            f"DigitalOcean Spaces subscription ({names}; includes {p['included_storage_gib']} GiB"
            f" stored and {p['included_transfer_gib']} GiB transfer)",
            p["subscription"],
            usd,
        )
    ]
    notes = [
        f"Spaces transfer above {p['included_transfer_gib']} GiB: {usd} {p['extra_transfer_per_gib']}/GiB",
        "One Spaces subscription per DigitalOcean team: if both stacks use one team, it is paid once.",
    ]
    extra = f"Spaces storage above {p['included_storage_gib']} GiB: {usd} {p['extra_storage_per_gib']}/GiB"
    if stored_gib is None:
        notes.insert(0, extra + " (stored amount not given)")
    else:
        over = max(0.0, stored_gib - p["included_storage_gib"])
        lines.append(
            Line(
                "spaces",
                f"storage above the included amount ({over:g} GiB)",
                round(over * p["extra_storage_per_gib"], 4),
                usd,
            )
        )
    return lines, notes


# The price table's entry of each DNS provider with one; read (and its date shown) only for a
# stack that lists the provider in dns.providers. Cloudflare's free plan is not in the table.
DNS_PRICES = {"hetzner": "hetzner_dns"}


def _dns_lines(cfg: StackConfig, prices: dict[str, Any]) -> list[Line]:
    """The zone at each priced DNS provider; prod owns the zone (alpha's record sets are in it)."""
    lines = []
    for provider, entry in DNS_PRICES.items():
        if provider in cfg.dns.providers and cfg.environment == boundary.ZONE_OWNER:
            p = prices[entry]
            lines.append(Line(f"dns-{provider}", f"Hetzner DNS zone {cfg.domain}", p["zone"], p["currency"]))
    return lines


def estimate(cfg: StackConfig, prices: dict[str, Any], spaces_stored_gib: float | None = None) -> CostReport:
    """The stack's monthly cost, line by line, from its config and the price table.

    ``spaces_stored_gib``: how much the stack's buckets hold, if known (from the
    DigitalOcean dashboard); without it storage above the included amount is a note.
    """
    lines: list[Line] = []
    for name, host in cfg.hosts.items():
        if host.hetzner is not None:
            lines += _hetzner_lines(name, host.hetzner, prices)
        elif host.vps is not None:
            lines.append(_vps_line(name, host.vps, cfg.source))
    spaces, notes = _spaces_lines(cfg, prices["digitalocean_spaces"], spaces_stored_gib)
    lines += spaces
    lines += _dns_lines(cfg, prices)
    if any(h.hetzner for h in cfg.hosts.values()):
        notes.append("Hetzner traffic above the amount included with each server, billed per TB.")
    totals: dict[str, float] = {}
    for line in lines:
        if line.amount is not None and line.currency is not None:
            totals[line.currency] = round(totals.get(line.currency, 0.0) + line.amount, 4)
    unused = {entry for provider, entry in DNS_PRICES.items() if provider not in cfg.dns.providers}
    checked = {
        k: str(v["checked"])
        for k, v in prices.items()
        if isinstance(v, dict) and "checked" in v and k not in unused
    }
    return CostReport(cfg.environment, cfg.source, tuple(lines), totals, checked, tuple(notes))


# --------------------------------------------------------------------------- output


def _money(amount: float | None, currency: str | None) -> str:
    if amount is None:
        return f"unknown {currency}" if currency else "unknown"
    return f"{currency} {amount:,.2f}"


def total_text(report: CostReport) -> str:
    """E.g. ``EUR 7.49 + USD 5.00 + 2 unknown``."""
    parts = [_money(report.totals[c], c) for c in sorted(report.totals)]
    if report.unknowns:
        parts.append(f"{len(report.unknowns)} unknown")
    return " + ".join(parts) or "nothing"


def render_text(report: CostReport) -> str:
    checked = ", ".join(f"{k} {v}" for k, v in sorted(report.checked.items()))
    lines = [
        f"Monthly cost estimate for {report.stack} ({report.source}), excluding VAT",
        f"Prices from data/prices.yaml, checked: {checked}",
        "",
    ]
    width = max((len(line.resource) for line in report.lines), default=8)
    for line in report.lines:
        money = _money(line.amount, line.currency)
        why = f"  ({line.why_unknown})" if line.why_unknown else ""
        lines.append(f"  {line.resource:<{width}}  {money:>14}  {line.what}{why}")
    lines += ["", f"Total per month: {total_text(report)}"]
    if report.unknowns:
        lines.append(
            "Unknown prices are not counted in the total: add them to data/prices.yaml or the stack file."
        )
    if report.notes:
        lines += ["", "Not estimated:"] + [f"  - {note}" for note in report.notes]
    return "\n".join(lines)


def to_output(report: CostReport) -> dict[str, Any]:
    """A plain dict for ``pulumi stack output monthly_cost``."""
    return {
        "total": total_text(report),
        "totals": dict(sorted(report.totals.items())),
        "unknown": len(report.unknowns),
        "excludes_vat": True,
        "prices_checked": report.checked,
        "lines": [
            {"resource": x.resource, "what": x.what, "amount": x.amount, "currency": x.currency}
            for x in report.lines
        ],
    }


def monthly_cost(cfg: StackConfig) -> dict[str, Any]:
    """The stack output: the estimate with the committed price table."""
    return to_output(estimate(cfg, load_prices()))
