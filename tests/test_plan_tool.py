"""The offline plan (`python -m tools.plan`) and the project file it reads (Pulumi.yaml).

Four real subprocess runs check what a reviewer sees (exit codes, stdout/stderr, no
traceback); marked ``slow`` (``make test-integration``), since each one spends seconds
importing the provider SDKs; they start together, the first time a test asks for them.
Everything else calls ``plan_tool.main([...])`` in-process.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.core import config
from components.core.config import PROJECT, REPO_ROOT, ConfigError
from components.core.stack import PROVIDER_SETTINGS
from tests.conftest import key, stack_doc
from tools.review import plan as plan_tool
from tools.review import program, stackfile

VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
OPTION_KEYS = {"protect", "retain_on_delete", "import", "ignore_changes", "delete_before_replace"}
CIPHERTEXT = "v1:AAAAfakeCiphertextNotReal000="
OWN_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO5X2IuPQJRQh3FXrplw8rS1mbNfeNY1ytSa3B9bFPNC"  # fake
MARKER = "outside-file-marker"  # a TXT value only the file outside the repo has
HEADER = re.compile(
    r"^Stack (?P<stack>\S+) \((?P<source>.+)\): (?P<n>\d+) resources, (?P<imports>\d+) to import, "
    r"(?P<creates>\d+) to create, (?P<protected>\d+) protected$"
)


def write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _start_runs(outside: Path) -> dict[str, subprocess.Popen]:
    """Run the plan tool as a reviewer would, from the repo root, all at once (the stack files
    it is given in ``outside``, a folder outside the repository)."""
    bad = stack_doc("alpha")
    bad["config"][key("environment")] = "staging"
    broken = outside / "broken.yaml"
    broken.write_text("config:\n  socialcoop-infra:environment: alpha\n  socialcoop-infra:hosts: [\n")
    args = {
        "prod": ["prod", "--json"],
        "alpha": ["alpha", "--json"],
        "bad": ["alpha", "--config", str(write(outside / "bad.yaml", bad))],
        "broken": ["alpha", "--config", str(broken)],
    }
    return {
        name: subprocess.Popen(
            [PYTHON, "-m", "tools.plan", *a],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, a in args.items()
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    done = {}
    for name, p in _start_runs(tmp_path_factory.mktemp("outside")).items():
        out, err = p.communicate(timeout=120)
        done[name] = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    return done


# --------------------------------------------------------------------------- --json


@pytest.mark.slow
@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_json_structure(runs, stack):
    run = runs[stack]
    assert run.returncode == 0, run.stderr
    resources = json.loads(run.stdout)
    assert isinstance(resources, list) and resources
    names = [r["name"] for r in resources]
    assert len(names) == len(set(names)), "parents are given by name, so names must be unique"
    for r in resources:
        assert set(r) == {"type", "name", "parent", "inputs", "options"}
        assert isinstance(r["type"], str) and r["type"].count(":") >= 1
        assert isinstance(r["inputs"], dict)
        assert set(r["options"]) == OPTION_KEYS
        o = r["options"]
        assert all(isinstance(o[k], bool) for k in ("protect", "retain_on_delete", "delete_before_replace"))
        assert isinstance(o["ignore_changes"], list) and (o["import"] is None or isinstance(o["import"], str))
        assert r["parent"] is None or r["parent"] in names, r
    assert any(r["parent"] is None for r in resources)


@pytest.mark.slow
def test_json_protection_follows_the_stack(runs):
    prod, alpha = json.loads(runs["prod"].stdout), json.loads(runs["alpha"].stdout)
    assert any(r["options"]["protect"] for r in prod)
    assert not any(r["options"]["protect"] or r["options"]["import"] for r in alpha)


@pytest.mark.slow
def test_json_matches_plan_stack(runs):
    """The CLI prints exactly what plan_stack() + to_json() give in-process."""
    assert json.loads(runs["alpha"].stdout) == json.loads(
        json.dumps(plan_tool.to_json(program.plan_stack("alpha")), default=str)
    )


# --------------------------------------------------------------------------- --config, tree


def test_config_outside_the_repo(capsys, tmp_path):
    alpha = stack_doc("alpha")
    alpha["config"][key("dns")]["records"]["marker.alpha"] = [{"type": "TXT", "value": MARKER}]
    path = write(tmp_path / "Pulumi.alpha.yaml", alpha)
    assert plan_tool.main(["alpha", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    header = HEADER.match(out.splitlines()[0])
    assert header and header["stack"] == "alpha" and header["source"] == str(path)
    assert MARKER in out  # the outside file's change is in the plan


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_tree_names_the_stack_and_counts(capsys, stack):
    assert plan_tool.main([stack]) == 0
    out = capsys.readouterr().out
    header = HEADER.match(out.splitlines()[0])
    assert header, out.splitlines()[0]
    custom = [r for r in program.plan_stack(stack).resources if r.custom]
    imports = sum(1 for r in custom if r.options["import"])
    assert header["stack"] == stack and header["source"] == f"Pulumi.{stack}.yaml"
    assert int(header["n"]) == len(custom) and int(header["imports"]) == imports
    assert int(header["creates"]) == len(custom) - imports
    assert int(header["protected"]) == sum(1 for r in custom if r.options["protect"])
    assert "Outputs:" in out and f"environment: {stack}" in out
    for r in custom[:5]:
        assert r.name in out


# --------------------------------------------------------------------------- errors


@pytest.mark.slow
def test_bad_stack_file_exits_2_with_one_line(runs):
    run = runs["bad"]
    path = run.args[-1]
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [
        f'error: {path}: {PROJECT}:environment = "staging": allowed: prod, alpha'
    ]
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_invalid_yaml_gives_the_line(runs):
    run = runs["broken"]
    assert run.returncode == 2 and "Traceback" not in run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith(
        f"error: {run.args[-1]}: not valid YAML (line 4, column 1, inside {PROJECT}:hosts): "
    )


def test_missing_file(capsys, tmp_path):
    missing = tmp_path / "Pulumi.prod.yaml"
    assert plan_tool.main(["prod", "--config", str(missing)]) == 2
    assert capsys.readouterr().err == f"error: {missing}: file not found: {missing}\n"


@pytest.mark.parametrize("config", [None, "copy of alpha"])
def test_a_stack_that_does_not_exist_is_one_line(capsys, tmp_path, config):
    """Any stack name but prod and alpha: one line and exit 2 (with --config it was a traceback
    from inside the program; components/core/boundary.py names the stacks)."""
    args = ["staging"]
    if config:
        copy = tmp_path / "Pulumi.staging.yaml"
        copy.write_bytes((REPO_ROOT / "Pulumi.alpha.yaml").read_bytes())
        args += ["--config", str(copy)]
    assert plan_tool.main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "there is no stack 'staging': the stacks are prod and alpha" in line


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["config"].update(environment="alpha"), "config key 'environment' needs its namespace"),
        (
            lambda d: d["config"].update({"socialcoop-infr:migration": {"ttl": 300}}),
            "config key 'socialcoop-infr:migration': unknown namespace; use socialcoop-infra:migration",
        ),
        (
            lambda d: d.update(secretprovider="passphrase"),
            "unknown top-level keys secretprovider; allowed: config",
        ),
        (lambda d: d.update(config=["a"]), "expected a stack file with a top-level config: mapping"),
    ],
    ids=["bare-key", "namespace-typo", "file-key-typo", "config-not-mapping"],
)
def test_stack_file_shape(tmp_path, change, message):
    doc = stack_doc("alpha")
    change(doc)
    path = write(tmp_path / "Pulumi.alpha.yaml", doc)
    with pytest.raises(ConfigError) as info:
        stackfile.read_stack("alpha", str(path))
    assert str(info.value).startswith(f"{path}: {message}")


def test_provider_namespaces_and_nulls(plan, monkeypatch):
    """An allowed provider setting passes through (masked); `key:` with no value is simply absent."""
    monkeypatch.setitem(PROVIDER_SETTINGS, "hcloud:pollInterval", "a test's reason")

    def change(c):
        c["hcloud:pollInterval"] = {"secure": CIPHERTEXT}
        c[key("migration")] = None

    result = plan("alpha", change)
    assert result.stack.other == {"hcloud:pollInterval": "[secret]"}
    assert key("migration") not in result.stack.pulumi_config()


# --------------------------------------------------------------------------- secrets, defaults


def test_secure_values_plan_as_secret(capsys, write_stack):
    def change(c):
        c[key("bootstrap_ssh_key")] = {"secure": CIPHERTEXT}
        # a machine of alpha's own: prod's (pando) is never alpha's to bootstrap
        own = {
            "ipv4": "192.0.2.44",
            "ipv6": "2001:db8:44::2",
            "ssh_host_key": OWN_HOST_KEY,
            "bootstrap": True,
        }
        c[key("hosts")]["alpha"]["vps"].update(own)

    path = str(write_stack("alpha", change))
    stack = stackfile.read_stack("alpha", path)
    assert stack.values["bootstrap_ssh_key"] == "[secret]" and stack.secret_keys == {"bootstrap_ssh_key"}
    assert plan_tool.main(["alpha", "--config", path, "--json"]) == 0
    assert plan_tool.main(["alpha", "--config", path]) == 0
    out = capsys.readouterr().out
    assert CIPHERTEXT not in out and "AAAAfakeCiphertext" not in out


def test_project_defaults_come_from_pulumi_yaml():
    declared = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["config"]
    expected = {k.removeprefix(f"{PROJECT}:"): v["default"] for k, v in declared.items() if "default" in v}
    assert stackfile.project_defaults() == expected
    assert expected["instance_domain"] == ""  # not set: from the environment


def test_stack_values_override_defaults(tmp_path):
    assert key("instance_domain") not in stack_doc("prod")["config"]
    assert stackfile.read_stack("prod").values["instance_domain"] == ""
    doc = stack_doc("prod")
    doc["config"][key("instance_domain")] = "social.coop"
    path = str(write(tmp_path / "p.yaml", doc))
    assert stackfile.read_stack("prod", path).values["instance_domain"] == "social.coop"


# --------------------------------------------------------------------------- Pulumi.yaml


@pytest.fixture(scope="module")
def project() -> dict:
    return yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())


def test_project_file(project):
    assert project["name"] == PROJECT
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"


def test_project_declares_exactly_the_loaders_keys(project):
    declared = {k.removeprefix(f"{PROJECT}:"): v for k, v in project["config"].items()}
    assert list(declared) == list(config.TOP_LEVEL_KEYS)  # same keys, same order
    for name, decl in declared.items():
        assert isinstance(decl, dict) and decl.get("description", "").strip(), name
        assert decl.get("type") in ("string", "integer", "boolean", "array", "object"), name


CLI_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}


def cli_accepts(decl: dict, value) -> bool:
    """workspace.ValidateConfigValue of the Pulumi CLI (sdk/go/common/workspace/project.go)."""
    kind = decl["type"]
    if kind == "boolean" and value in ("true", "false"):
        return True
    if kind == "integer" and isinstance(value, str):
        return value.lstrip("-").isdigit()
    if kind == "array":
        return isinstance(value, list) and all(cli_accepts(decl["items"], v) for v in value)
    return isinstance(value, CLI_TYPES[kind]) and not (kind == "integer" and isinstance(value, bool))


def test_the_cli_accepts_the_project_and_both_stack_files(project):
    """The rules the Pulumi CLI (v3.260) applies before a preview starts: Project.Validate in
    sdk/go/common/workspace/project.go and mergeConfig / validateStackConfigValues in
    pkg/workspace/config.go. A project key with no default that a stack file does not set
    stops the preview ("Stack 'alpha' is missing configuration values ..."); a default must
    have the declared type; an array declares its items; a secret key's default would be
    found unencrypted ("must be encrypted as it's secret"), so a secret key has none."""
    declared = {k.removeprefix(f"{PROJECT}:"): v for k, v in project["config"].items()}
    for name, decl in declared.items():
        assert decl["type"] != "array" or "items" in decl, name
        assert "default" not in decl or cli_accepts(decl, decl["default"]), name
        assert not (decl.get("secret") and "default" in decl), name
        assert "value" not in decl, name
    for stack in ("prod", "alpha"):
        doc = stack_doc(stack)["config"]
        set_here = {k.removeprefix(f"{PROJECT}:"): v for k, v in doc.items() if k.startswith(f"{PROJECT}:")}
        missing = [k for k, d in declared.items() if "default" not in d and k not in set_here]
        assert missing == [], f"Stack '{stack}' is missing configuration values {missing}"
        for name, value in set_here.items():
            if not (isinstance(value, dict) and set(value) == {"secure"}):
                assert cli_accepts(declared[name], value), (stack, name)
                assert not declared[name].get("secret"), (stack, name)


def test_duplicate_keys_in_a_stack_file_are_refused(tmp_path):
    # Two hosts spelled the same would otherwise silently become one (PyYAML keeps the last).
    text = (stackfile.REPO_ROOT / "Pulumi.prod.yaml").read_text()
    duplicated = text.replace("    hypha:\n", "    rhizome:\n", 1)
    assert duplicated != text
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(duplicated)
    with pytest.raises(ConfigError) as info:
        stackfile.read_stack("prod", str(path))
    message = str(info.value)
    assert str(path) in message
    assert "duplicate key 'rhizome'" in message
    assert "line " in message


def test_tree_shows_record_ttls_as_whole_seconds_and_protections_in_words(plan):
    tree = plan_tool.render_tree(plan("prod"))
    apex = next(line for line in tree.splitlines() if "social-coop-apex-a " in line)
    assert "A social.coop 203.0.113.10 ttl 3600 " in apex
    assert "3600.0" not in tree
    assert "protect; retain on delete" in apex
