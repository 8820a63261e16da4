"""The Mermaid picture: plausible syntax, every host/bucket/DNS name/service, key reach, no drift."""

from __future__ import annotations

import re

import pytest

from components.core.config import REPO_ROOT
from tests.conftest import key
from tools.review import diagram
from tools.review.stackfile import read_stack

NODE = re.compile(r"^\s*([A-Za-z0-9_]+)(\[\(|\(\[|\{\{|\[)\"([^\"]*)\"(\)\]|\]\)|\}\}|\])$")
EDGE = re.compile(r"^\s*([A-Za-z0-9_]+) (-->|-\.->|-\.-x)\|\"([^\"]*)\"\| ([A-Za-z0-9_]+)$")
SUBGRAPH = re.compile(r"^\s*subgraph ([A-Za-z0-9_]+)\[\"[^\"]*\"\]$")
CLASS = re.compile(r"^\s*(classDef [a-z]+ .+|class ([A-Za-z0-9_,]+) [a-z]+)$")


def parse(text: str):
    """Check the flowchart line by line; return (labels by node id, edges as (from, kind, label, to))."""
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "flowchart LR"
    labels: dict[str, str] = {}
    edges: list[tuple[str, str, str, str]] = []
    classes: list[str] = []
    depth = 0
    for line in lines[1:]:
        if m := NODE.match(line):
            assert m[1] not in labels, f"node declared twice: {m[1]}"
            labels[m[1]] = m[3]
        elif m := EDGE.match(line):
            edges.append((m[1], m[2], m[3], m[4]))
        elif SUBGRAPH.match(line):
            depth += 1
        elif line.strip() == "end":
            depth -= 1
            assert depth >= 0
        elif m := CLASS.match(line):
            classes += (m[2] or "").split(",") if m[2] else []
        else:
            pytest.fail(f"not a line this diagram should contain: {line!r}")
    assert depth == 0, "unbalanced subgraph/end"
    for nid in labels:
        assert re.fullmatch(r"[A-Za-z0-9_]+", nid) and nid != "end"
    for src, _, _, dst in edges:
        assert src in labels and dst in labels, f"edge to an undeclared node: {src} -> {dst}"
    assert all(c in labels for c in classes)
    return labels, edges


def node(labels: dict[str, str], first_line: str) -> str:
    found = [nid for nid, text in labels.items() if text.split("<br/>")[0] == first_line]
    assert len(found) == 1, f"{first_line!r} is not exactly one node: {found}"
    return found[0]


def alpha_on_hetzner(c):
    c[key("hosts")]["alpha"]["kind"] = "hetzner_cloud"


CASES = {
    "prod": ("prod", None),
    "alpha": ("alpha", None),
    "alpha-hetzner": ("alpha", alpha_on_hetzner),
}


@pytest.mark.parametrize("case", CASES)
def test_diagram_shows_every_host_name_service_bucket_and_key(load_config, case):
    stack, mutate = CASES[case]
    cfg = load_config(stack, mutate)
    labels, edges = parse(diagram.render_mermaid(cfg))
    arrows = {(labels[a].split("<br/>")[0], labels[b].split("<br/>")[0], label) for a, _, label, b in edges}

    for name, host in cfg.hosts.items():
        text = labels[node(labels, name)]
        assert host.fqdn in text
        for role in host.roles:
            assert diagram.ROLE_TEXT[role] in text
        where = host.hetzner.server_type if host.hetzner else host.vps.provider
        assert where in text

    for r in cfg.dns.records:
        if r.host is not None:
            fqdn = cfg.domain if r.name == "@" else f"{r.name}.{cfg.domain}"
            assert any(a == fqdn and b == r.host and r.type in label for a, b, label in arrows), (
                fqdn,
                r.host,
            )

    own, other = f"{stack} stack Spaces key", f"{diagram.OTHER_STACK[stack]} stack Spaces key"
    for b in cfg.storage.buckets.values():
        node(labels, b.name)
        assert (own, b.name, "read/write") in arrows
        assert (other, b.name, "no access") in arrows
        assert not any(a == other and c == b.name and "read" in label for a, c, label in arrows)


def test_hetzner_switch_changes_the_host_box(load_config):
    labels, _ = parse(diagram.render_mermaid(load_config("alpha", alpha_on_hetzner)))
    assert "Hetzner Cloud cx23 (fsn1)" in labels[node(labels, "alpha")]
    labels, _ = parse(diagram.render_mermaid(load_config("alpha")))
    assert "VPS at iocoop" in labels[node(labels, "alpha")]


def test_only_the_stacks_mastodon_hosts_hold_its_key(load_config):
    labels, edges = parse(diagram.render_mermaid(load_config("prod")))
    holders = {labels[a].split("<br/>")[0] for a, _, label, b in edges if label.startswith("uses key")}
    assert holders == {"rhizome"}  # pando (staging) must never get prod's key
    assert any("dumps to backups/rhizome/" in label for _, _, label, _ in edges)


def test_cname_to_a_name_in_the_picture_is_drawn(load_config):
    labels, edges = parse(diagram.render_mermaid(load_config("prod")))
    assert (node(labels, "www.social.coop"), "CNAME", node(labels, "social.coop")) in {
        (a, label, b) for a, _, label, b in edges
    }


def test_node_ids_stay_unique_when_names_collide(load_config):
    def mutate(c):
        records = c[key("dns")]["records"]
        records["apps-x"] = [{"type": "CNAME", "host": "hypha"}]
        records["apps.x"] = [{"type": "CNAME", "host": "hypha"}]  # both would be dns_apps_x_social_coop

    labels, _ = parse(diagram.render_mermaid(load_config("prod", mutate)))
    assert node(labels, "apps.x.social.coop") != node(labels, "apps-x.social.coop")


def test_no_storage_no_keys(load_config):
    labels, _ = parse(diagram.render_mermaid(load_config("alpha", lambda c: c.pop(key("storage")))))
    assert not [t for t in labels.values() if "Spaces key" in t]


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_diagram_names_what_the_plan_declares(plan, stack):
    """Every bucket, server and A/AAAA name the offline plan declares appears in the picture."""
    result = plan(stack)
    cfg = result.stack.config()
    text = diagram.render_mermaid(cfg)
    for r in result.resources:
        if r.type == "digitalocean:index/spacesBucket:SpacesBucket":
            assert f'"{r.inputs["name"]}<br/>' in text
        if r.type == "hcloud:index/server:Server":
            assert r.inputs["name"] in text
        if r.type == "cloudflare:index/dnsRecord:DnsRecord" and r.inputs.get("type") in ("A", "AAAA"):
            name = r.inputs["name"].rstrip(".")
            fqdn = (
                name if name.endswith(cfg.domain) else (cfg.domain if name == "@" else f"{name}.{cfg.domain}")
            )
            assert f'"{fqdn}"' in text, fqdn


def test_committed_prod_diagram_is_up_to_date():
    """docs/diagram-prod.md and README's block: each stale one named with the command that fixes it."""
    problems = diagram.stale(read_stack("prod").config(), "prod")
    assert problems == [], "\n".join(problems)
    committed = (REPO_ROOT / "docs" / "diagram-prod.md").read_text()
    assert "```mermaid\nflowchart LR\n" in committed


def test_cli_prints_and_writes(tmp_path, capsys):
    assert diagram.main(["alpha"]) == 0
    assert capsys.readouterr().out.startswith("flowchart LR\n")
    out = tmp_path / "d.md"
    assert diagram.main(["alpha", "--out", str(out)]) == 0
    assert out.read_text().startswith("# The alpha stack")
    assert diagram.main(["alpha", "--config", str(tmp_path / "missing.yaml")]) == 2
