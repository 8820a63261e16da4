"""Cost report: arithmetic, unknown prices (never zero), the price table, the CLI and the stack output."""

from __future__ import annotations

import datetime

import pytest
import yaml

from components.core import costs
from components.core.errors import REPO_ROOT
from components.core.types import PROVIDERS
from tests.conftest import key
from tools.review import plan as plan_tool

# A small table with round numbers, so every expected amount below is easy to check by hand.
PRICES = {
    "hetzner_cloud": {
        "currency": "EUR",
        "checked": datetime.date(2026, 11, 25),
        "source": "https://example.invalid/hetzner",
        "price_locations": ["fsn1", "nbg1", "hel1"],
        "server_types": {"cx23": 10.0, "cpx32": 20.0},
        "backup_percent": 20,
        "primary_ipv4": 0.5,
        "primary_ipv6": 0.0,
        "volume_per_gb": 0.05,
    },
    "digitalocean_spaces": {
        "currency": "USD",
        "checked": datetime.date(2026, 11, 25),
        "source": "https://example.invalid/spaces",
        "subscription": 5.0,
        "included_storage_gib": 250,
        "included_transfer_gib": 1024,
        "extra_storage_per_gib": 0.02,
        "extra_transfer_per_gib": 0.01,
    },
}


def alpha_on_hetzner(backups=True, volume_gb=100, server_type="cx23", location="fsn1"):
    def mutate(c):
        host = c[key("hosts")]["alpha"]
        host["kind"] = "hetzner_cloud"
        host["hetzner_cloud"].update(server_type=server_type, location=location, backups=backups)
        if volume_gb:
            host["hetzner_cloud"]["volume"] = {"size_gb": volume_gb}

    return mutate


def set_price(host, amount, currency):
    def mutate(c):
        c[key("hosts")][host]["vps"]["monthly_price"] = {"amount": amount, "currency": currency}

    return mutate


def by_what(report, resource, what_start):
    found = [x for x in report.lines if x.resource == resource and x.what.startswith(what_start)]
    assert len(found) == 1, [(x.resource, x.what) for x in report.lines]
    return found[0]


# --------------------------------------------------------------------------- arithmetic


def test_hetzner_server_backups_ips_and_volume(load_config):
    report = costs.estimate(load_config("alpha", alpha_on_hetzner()), PRICES)
    assert by_what(report, "alpha-server", "Hetzner Cloud server cx23").amount == 10.0
    assert by_what(report, "alpha-server", "backups").amount == 2.0  # 20 % of 10.0
    assert by_what(report, "alpha-ipv4", "primary IPv4").amount == 0.5
    assert by_what(report, "alpha-ipv6", "primary IPv6").amount == 0.0
    assert by_what(report, "alpha-volume", "volume 100 GB").amount == 5.0  # 100 x 0.05
    assert report.totals == {"EUR": 17.5, "USD": 5.0}
    assert report.unknowns == ()
    assert costs.total_text(report) == "EUR 17.50 + USD 5.00"


def test_no_backup_or_volume_lines_when_not_configured(load_config):
    report = costs.estimate(load_config("alpha", alpha_on_hetzner(backups=False, volume_gb=None)), PRICES)
    assert [x.what for x in report.lines if x.resource.startswith("alpha")] == [
        "Hetzner Cloud server cx23 (fsn1)",
        "primary IPv4",
        "primary IPv6",
    ]
    assert report.totals["EUR"] == 10.5


def test_spaces_subscription_and_extra_storage(load_config):
    cfg = load_config("alpha")
    plain = costs.estimate(cfg, PRICES)
    assert by_what(plain, "spaces", "DigitalOcean Spaces subscription").amount == 5.0
    assert any("Spaces storage above 250 GiB" in n for n in plain.notes)  # not silently dropped
    big = costs.estimate(cfg, PRICES, spaces_stored_gib=400)
    assert by_what(big, "spaces", "storage above").amount == 3.0  # (400 - 250) x 0.02
    assert big.totals["USD"] == 8.0
    small = costs.estimate(cfg, PRICES, spaces_stored_gib=100)
    assert by_what(small, "spaces", "storage above").amount == 0.0


def test_no_storage_no_spaces_line(load_config):
    report = costs.estimate(load_config("alpha", lambda c: c.pop(key("storage"))), PRICES)
    assert not [x for x in report.lines if x.resource == "spaces"]
    assert "USD" not in report.totals


def test_currencies_are_totalled_separately_never_converted(load_config):
    def mutate(c):
        set_price("rhizome", 40, "EUR")(c)
        set_price("pando", 12.5, "USD")(c)

    report = costs.estimate(load_config("prod", mutate), PRICES)
    # hypha (cpx32 in this table): 20 + 4 backups + 0.5 IPv4; rhizome 40 EUR
    assert report.totals == {"EUR": 64.5, "USD": 17.5}  # pando 12.5 + Spaces 5
    assert by_what(report, "pando", "iocoop server").currency == "USD"


# --------------------------------------------------------------------------- unknown prices


def test_server_type_missing_from_table_is_unknown_not_zero(load_config):
    prices = {**PRICES, "hetzner_cloud": {**PRICES["hetzner_cloud"], "server_types": {}}}
    report = costs.estimate(load_config("alpha", alpha_on_hetzner()), prices)
    server = by_what(report, "alpha-server", "Hetzner Cloud server")
    backups = by_what(report, "alpha-server", "backups")
    assert server.amount is None and backups.amount is None
    assert "cx23 is not in data/prices.yaml" in server.why_unknown
    assert server.currency == "EUR"
    assert report.totals["EUR"] == 5.5  # IPv4 0.5 + volume 5.0: known lines still count
    assert len(report.unknowns) == 2
    assert costs.total_text(report) == "EUR 5.50 + USD 5.00 + 2 unknown"


def test_location_without_prices_is_unknown(load_config):
    report = costs.estimate(load_config("alpha", alpha_on_hetzner(location="ash")), PRICES)
    assert by_what(report, "alpha-server", "Hetzner Cloud server").amount is None
    assert "location ash" in by_what(report, "alpha-server", "Hetzner Cloud server").why_unknown


def test_vps_without_monthly_price_is_unknown(load_config):
    report = costs.estimate(load_config("prod"), PRICES)
    for host in ("rhizome", "pando"):
        line = by_what(report, host, "")
        assert line.amount is None and line.currency is None
        assert f"no vps.monthly_price for {host}" in line.why_unknown
    assert {x.resource for x in report.unknowns} == {"rhizome", "pando"}
    assert costs.total_text(report).endswith("+ 2 unknown")
    text = costs.render_text(report)
    assert "Total per month: EUR 24.50 + USD 5.00 + 2 unknown" in text
    assert "not counted in the total" in text


def test_vps_with_monthly_price_counts(load_config):
    report = costs.estimate(load_config("alpha", set_price("alpha", 9.0, "USD")), PRICES)
    assert by_what(report, "alpha", "iocoop server").amount == 9.0
    assert report.totals == {"USD": 14.0}
    assert report.unknowns == ()


# --------------------------------------------------------------------------- the price table


def test_price_table_has_checked_date_source_and_currency_per_provider():
    table = costs.load_prices()
    assert set(table) == {"hetzner_cloud", "digitalocean_spaces", "hetzner_dns"}
    for provider, entry in table.items():
        assert isinstance(entry["checked"], datetime.date), provider
        assert entry["source"].startswith("https://"), provider
        assert entry["currency"] in ("EUR", "USD"), provider
    assert table["hetzner_cloud"]["currency"] == "EUR"
    assert table["digitalocean_spaces"]["currency"] == "USD"
    assert "exclude vat" in (REPO_ROOT / "data" / "prices.yaml").read_text().lower()


def test_price_table_names_only_known_types_and_locations():
    table = costs.load_prices()["hetzner_cloud"]
    known = PROVIDERS["hetzner_cloud"]
    assert set(table["server_types"]) <= set(known["server_types"])
    assert set(table["price_locations"]) <= set(known["locations"])
    assert all(isinstance(v, (int, float)) and v > 0 for v in table["server_types"].values())


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_committed_stacks_estimate_with_the_real_table(load_config, stack):
    report = costs.estimate(load_config(stack), costs.load_prices())
    assert all(x.amount is None or x.amount >= 0 for x in report.lines)
    assert all(x.why_unknown for x in report.unknowns)  # every unknown says why
    assert set(report.checked) == {"hetzner_cloud", "digitalocean_spaces"}


# --------------------------------------------------------------------------- CLI and stack output


def test_plan_cost_flag_prints_the_report(capsys):
    assert plan_tool.main(["prod", "--cost"]) == 0
    out = capsys.readouterr().out
    assert "Monthly cost estimate for prod" in out and "excluding VAT" in out
    for resource in ("rhizome", "hypha-server", "hypha-ipv4", "hypha-ipv6", "pando", "spaces"):
        assert f"  {resource} " in out
    assert "Total per month:" in out


def test_plan_cost_flag_reports_config_errors_cleanly(capsys, write_stack):
    path = write_stack("alpha", lambda c: c[key("hosts")]["alpha"].update(kind="bogus"))
    assert plan_tool.main(["alpha", "--cost", "--config", str(path)]) == 2
    assert "error:" in capsys.readouterr().err


def test_monthly_cost_output_is_plain_and_matches_the_estimate(plan, load_config):
    result = plan("prod")
    out = result.outputs["monthly_cost"]
    expected = costs.to_output(costs.estimate(load_config("prod"), costs.load_prices()))
    assert out == expected
    assert "monthly_cost" not in result.secret_outputs
    yaml.safe_dump(out)  # plain data: no Outputs, no dataclasses
    assert out["unknown"] == sum(1 for x in out["lines"] if x["amount"] is None)


BILLED = {
    "hcloud:index/server:Server": "Hetzner Cloud server {serverType} ",
    "hcloud:index/primaryIp:PrimaryIp": "primary {type}",
    "hcloud:index/volume:Volume": "volume {size:g} GB",
}


@pytest.mark.parametrize("stack, mutate", [("prod", None), ("alpha", alpha_on_hetzner(volume_gb=50))])
def test_cost_lines_match_the_planned_hetzner_resources(plan, load_config, stack, mutate):
    """Cross-check with the plan: one line per billed Hetzner resource, same name, same type/size."""
    result = plan(stack, mutate)
    report = costs.estimate(load_config(stack, mutate), PRICES)
    planned = [r for r in result.resources if r.type in BILLED]
    assert planned, "the plan declares no Hetzner Cloud resources"
    for r in planned:
        expected = BILLED[r.type].format(**r.inputs).replace("primary ipv", "primary IPv")
        assert any(x.resource == r.name and x.what.startswith(expected) for x in report.lines), (
            r.name,
            expected,
        )
    cfg = load_config(stack, mutate)
    hetzner_lines = {
        x.resource for x in report.lines if x.resource not in cfg.hosts and x.resource != "spaces"
    }
    assert hetzner_lines == {r.name for r in planned}
