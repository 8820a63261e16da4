"""Issue 24's newcomer findings, each as the class it belongs to: the path to a real preview (make preview
with an official CLI, README and docs/ci.md agreeing on the CLI for real work), stand-in addresses
labelled as such, a price or a plain "no price for X" for every server type the loader accepts,
no dangling references in the docs, a misspelt key's message, and a YAML syntax error's key path."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from components.core import costs, safe_yaml
from components.core.errors import PROJECT, REPO_ROOT, ConfigError
from components.core.types import PROVIDERS
from tests.conftest import key
from tools.review import plan as plan_tool
from tools.review import program

# --------------------------------------------------------------------------- the real preview


def make_dry_run(*args: str) -> str:
    p = subprocess.run(["make", "-n", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_make_preview_with_an_official_cli_builds_nothing():
    assert "engine/build.sh" not in make_dry_run(
        "preview", "STACK=alpha", "PULUMI_CLI=/opt/pulumi/bin/pulumi"
    )
    assert "tools.engine preview alpha" in make_dry_run(
        "preview", "STACK=alpha", "PULUMI_CLI=/opt/pulumi/bin/pulumi"
    )
    assert "engine/build.sh" in make_dry_run("preview", "STACK=alpha")  # without one: the CLI is built


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end > 0 else len(text)]


def test_readme_and_ci_docs_name_the_same_cli_for_real_work():
    readme = section((REPO_ROOT / "README.md").read_text(), "## Working for real")
    ci = (REPO_ROOT / "docs" / "ci.md").read_text()
    for text in (readme, ci):
        assert ".ci/install-pulumi.sh" in text
    # `make engine` lacks the Python language host: neither page offers it for real work
    for text in (readme, section(ci, "## Pins")):
        for paragraph in text.split("\n\n"):
            if "make engine" in paragraph:
                assert "language host" in paragraph, paragraph


# --------------------------------------------------------------------------- placeholders


def test_stand_in_addresses_are_labelled_in_the_plan():
    plan = program.plan_stack("prod")
    tree = plan_tool.render_tree(plan)
    nets = program.placeholder_networks(plan_tool.to_json(plan))
    hypha = plan.outputs["hosts"]["hypha"]
    assert program.is_placeholder(hypha["ipv4"], nets) and program.is_placeholder(hypha["ipv6"], nets)
    for line in tree.splitlines():
        if hypha["ipv4"] in line or hypha["ipv6"] in line:
            assert "placeholder" in line.lower(), line
    assert "Placeholder addresses:" in tree
    rhizome = plan.outputs["hosts"]["rhizome"]["ipv4"]  # from the stack file: no stand-in
    assert not program.is_placeholder(rhizome, nets)
    assert "placeholder" not in plan_tool.render_tree(program.plan_stack("alpha")).lower()


# --------------------------------------------------------------------------- prices


def test_every_accepted_server_type_has_a_price_or_a_plain_no_price_line(load_config):
    prices = costs.load_prices()
    checked = str(prices["hetzner_cloud"]["checked"])
    listed = set(prices["hetzner_cloud"]["server_types"]) | set(
        prices["hetzner_cloud"]["no_price"]["server_types"]
    )
    for server_type in PROVIDERS["hetzner_cloud"]["server_types"]:

        def on_hetzner(c, server_type=server_type):
            c[key("hosts")]["alpha"]["kind"] = "hetzner_cloud"
            c[key("hosts")]["alpha"]["hetzner_cloud"]["server_type"] = server_type

        report = costs.estimate(load_config("alpha", on_hetzner), prices)
        [line] = [x for x in report.lines if x.what.startswith("Hetzner Cloud server")]
        if line.amount is None:
            assert (
                line.why_unknown.startswith(f"no price for {server_type}: ") and checked in line.why_unknown
            )
            assert f"no price for {server_type}" in costs.render_text(report)
        assert server_type in listed, (
            f"data/prices.yaml: give {server_type} a price or list it under no_price"
        )


# --------------------------------------------------------------------------- docs


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_docs_refer_only_to_what_is_in_the_repository():
    for path in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        text, page = path.read_text(), path.relative_to(REPO_ROOT)
        for target in LINK.findall(text):
            if "://" not in target and not target.startswith("mailto:"):
                assert (path.parent / target).exists(), (
                    f"{page}: link to {target}, which is not in the repository"
                )
        # "see CONTEXT", "see README": a document named in capitals must exist
        for name in re.findall(r"\bsee ([A-Z][A-Z_]{2,})\b", text):
            assert list(REPO_ROOT.glob(f"{name}*")) or list(REPO_ROOT.glob(f"docs/{name}*")), (
                f"{page}: see {name}?"
            )


# --------------------------------------------------------------------------- messages


def test_a_misspelt_top_level_key_leads_with_the_key_and_the_allowed_names(write_stack):
    path = write_stack("alpha", lambda c: c.update({key("hots"): c.pop(key("hosts"))}))
    from tools.review import stackfile

    with pytest.raises(ConfigError) as info:
        stackfile.read_stack("alpha", str(path)).config()
    message = str(info.value)
    assert message.startswith(f"{path}: {PROJECT}:hots: unknown key (did you mean hosts?); allowed here: ")
    assert "mastodon_staging" not in message and "198.51.100" not in message  # not the value


@pytest.mark.parametrize(
    ("text", "inside"),
    [
        (
            "config:\n  socialcoop-infra:hosts:\n    alpha:\n      roles: [a, b\n      kind: vps\n",
            "socialcoop-infra:hosts.alpha.roles",
        ),
        (
            'config:\n  socialcoop-infra:admins:\n    - name: a\n      ssh_key: "x\n    - name: b\n',
            "socialcoop-infra:admins[0].ssh_key",
        ),
        (
            "config:\n  socialcoop-infra:dns:\n    records:\n      www: [\n",
            "socialcoop-infra:dns.records.www",
        ),
    ],
)
def test_a_yaml_syntax_error_names_the_enclosing_key_path(text, inside):
    with pytest.raises(ConfigError) as info:
        safe_yaml.load(text.encode(), "Pulumi.alpha.yaml")
    message = str(info.value)
    assert re.match(
        rf"Pulumi\.alpha\.yaml: not valid YAML \(line \d+, column \d+, inside {re.escape(inside)}\): ",
        message,
    )
    yaml.safe_load("a: 1")  # (PyYAML itself is fine)
