"""`python -m tools.check_dns --compare NS_A NS_B` against two local Knot DNS servers: the same
zone on both passes; one deliberately different server gets each difference reported in one
line (exit 1); a DS record at the parent (DNSSEC on) is reported before the name servers may
move. Every query goes to 127.0.0.1 only."""

from __future__ import annotations

import pytest

from components.core.config import REPO_ROOT
from tests.conftest import key
from tests.dns_server import Knot, social_coop_zone, stub_zones
from tools.check import compare
from tools.check import dns as check_dns

pytestmark = [pytest.mark.dns_server, pytest.mark.usefixtures("local_dns_only")]
ALPHA = str(REPO_ROOT / "Pulumi.alpha.yaml")
DS = "social IN DS 2371 13 2 0000000000000000000000000000000000000000000000000000000000000000"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two servers with the same complete zone (as `tools.zonefile prod alpha` writes it); the
    first also serves the stub zones, `coop` among them: the parent asked for the DS record."""
    zone = social_coop_zone()
    a = Knot(tmp_path_factory.mktemp("knot-a"), {"social.coop": zone, **stub_zones()})
    b = Knot(tmp_path_factory.mktemp("knot-b"), {"social.coop": zone})
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def run(capsys, a: Knot, b: Knot, *stacks: str) -> tuple[int, list[str]]:
    argv = [*(stacks or ("prod", "alpha")), "--compare", f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"]
    rc = check_dns.main([*argv, "--nameserver", "127.0.0.1", "--port", str(a.port)])
    return rc, capsys.readouterr().out.splitlines()


def test_the_same_zone_on_both_servers_passes(capsys, pair):
    rc, out = run(capsys, *pair)
    assert rc == 0, out
    assert (
        out[0]
        == f"127.0.0.1:{pair[0].port} and 127.0.0.1:{pair[1].port}: 34 planned records at 17 names (prod and alpha)"
    )
    assert out[1] == "DNSSEC: no DS record for social.coop at its parent: no signing to turn off first"
    assert out[-1] == "no differences: both serve the same answers"


@pytest.fixture
def b_differs(pair, write_stack):
    """The second server serves another prod: a record gone, a TTL changed, other content, one more."""
    a, b = pair

    def drift(c):
        records = c[key("dns")]["records"]
        del records["join"]
        records["www"][0]["ttl"] = 600
        records["traefik"] = [{"type": "CNAME", "value": "rhizome.social.coop"}]
        records["pando"].append({"type": "TXT", "value": "site-verification=0000"})
        c[key("dns")]["imports"].pop("join-cname")

    path = write_stack("prod", drift)
    original = b.zones["social.coop"]
    b.load("social.coop", social_coop_zone("--config", str(path), "--config", ALPHA, serial=2))
    yield a, b
    b.load("social.coop", original)


def test_each_difference_between_the_servers_is_one_line(capsys, b_differs):
    a, b = b_differs
    rc, out = run(capsys, a, b)
    assert rc == 1
    A, B = f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"
    assert sorted(
        line.removeprefix("difference: ") for line in out if line.startswith("difference: ")
    ) == sorted(
        [
            f"only at {A}: join.social.coop CNAME hypha.social.coop (ttl 3600)",
            f"TTL: www.social.coop CNAME social.coop: {A} 3600, {B} 600",
            f"only at {A}: traefik.social.coop CNAME hypha.social.coop (ttl 3600)",
            f"only at {B}: traefik.social.coop CNAME rhizome.social.coop (ttl 3600)",
            f'only at {B}: pando.social.coop TXT "site-verification=0000" (ttl 3600)',
        ]
    )
    assert out[-1] == "5 difference(s)"


def test_alpha_alone_compares_only_its_names(capsys, b_differs):
    rc, out = run(capsys, *b_differs, "alpha")
    assert rc == 0 and out[0].endswith("4 planned records at 2 names (alpha)")


def test_a_ds_record_at_the_parent_stops_the_move(capsys, pair):
    a, b = pair
    coop = a.zones["coop"]
    a.load("coop", coop + DS + "\n")
    try:
        rc, out = run(capsys, a, b)
    finally:
        a.load("coop", coop)
    assert rc == 1
    assert out[1] == "DNSSEC: social.coop has 1 DS record(s) at its parent"
    (problem,) = [line for line in out if line.startswith("difference: ")]
    assert problem.startswith("difference: DNSSEC: a DS record for social.coop is published (2371 13 2 ")
    assert "remove the DS at the registrar first and wait its TTL (docs/dns-cutover.md, step 1)" in problem


@pytest.mark.parametrize(
    "spec, parsed",
    [
        ("hydrogen.ns.hetzner.com", ("hydrogen.ns.hetzner.com", 53)),
        ("127.0.0.1:5300", ("127.0.0.1", 5300)),
        ("[2001:db8::53]:5300", ("2001:db8::53", 5300)),
        ("2001:db8::53", ("2001:db8::53", 53)),
    ],
)
def test_name_servers_are_given_as_host_or_host_and_port(spec, parsed):
    assert compare.parse_server(spec) == parsed


def test_a_bad_server_or_extra_stacks_without_compare_are_usage_errors(capsys):
    for argv in (
        ["prod", "--compare", "127.0.0.1:x", "127.0.0.1:5300"],
        ["prod", "alpha", "--nameserver", "127.0.0.1"],
    ):
        with pytest.raises(SystemExit) as e:
            check_dns.main(argv)
        assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--compare 127.0.0.1:x: expected a name server as HOST, HOST:PORT or [IPv6]:PORT" in err
    assert "several stacks only with --compare" in err


def test_a_delegation_is_compared_too(capsys, pair, write_stack, tmp_path):
    """An authoritative server answers for a delegated name with a referral (the NS set in the
    authority section): compared like any answer."""
    a, b = pair

    def delegate(*servers):
        def mutate(c):
            c[key("dns")]["records"]["lists"] = [
                {"type": "NS", "value": ns, "id": f"ns{i}"} for i, ns in enumerate(servers)
            ]

        return mutate

    ours = write_stack("prod", delegate("ns1.example.net", "ns2.example.org"))
    ours = ours.rename(tmp_path / "ours.yaml")
    theirs = write_stack("prod", delegate("ns1.example.net"))
    original = {s: s.zones["social.coop"] for s in (a, b)}
    a.load("social.coop", social_coop_zone("--config", str(ours), "--config", ALPHA, serial=3))
    b.load("social.coop", social_coop_zone("--config", str(theirs), "--config", ALPHA, serial=3))
    try:
        argv = ["prod", "--config", str(ours), "--compare", f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"]
        rc = check_dns.main([*argv, "--nameserver", "127.0.0.1", "--port", str(a.port)])
        out = capsys.readouterr().out.splitlines()
    finally:
        for server, zone in original.items():
            server.load("social.coop", zone)
    assert rc == 1
    assert [line for line in out if line.startswith("difference: ")] == [
        f"difference: only at 127.0.0.1:{a.port}: lists.social.coop NS ns2.example.org (ttl 3600)"
    ]
