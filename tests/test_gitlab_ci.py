""".gitlab-ci.yml: GitLab's schema, shellcheck on every script, and which jobs run when.

The rules are checked by evaluating them for the pipelines that matter (a merge request
from this project, one from a fork, a push to the default branch), with a small evaluator
for the subset of GitLab's `rules:if` syntax the file uses.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from components.config import REPO_ROOT

CI_FILE = REPO_ROOT / ".gitlab-ci.yml"
DOCS = REPO_ROOT / "docs" / "ci.md"
GLOBAL_KEYWORDS = {"stages", "workflow", "default", "variables", "include", "image", "services", "cache"}
GLOBAL_KEYWORDS |= {"before_script", "after_script"}
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


@cache
def ci() -> dict:
    return yaml.safe_load(CI_FILE.read_text())


def _merge(base: dict, over: dict) -> dict:
    """GitLab's `extends`: hashes merge deeply, everything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def job(name: str) -> dict:
    """A job as GitLab runs it: `extends` resolved, `default:` filled in."""
    raw = ci()[name]
    parents = raw.get("extends", [])
    merged: dict = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = _merge(merged, job(parent))
    merged = _merge(merged, {k: v for k, v in raw.items() if k != "extends"})
    if not name.startswith("."):
        merged = {**ci().get("default", {}), **merged}
    return merged


def jobs() -> list[str]:
    return [
        k
        for k, v in ci().items()
        if k not in GLOBAL_KEYWORDS and not k.startswith(".") and isinstance(v, dict)
    ]


def lines(section) -> list[str]:
    """A script section, nested lists flattened like GitLab does."""
    if section is None:
        return []
    if isinstance(section, str):
        return [section]
    return [line for item in section for line in lines(item)]


# --------------------------------------------------------------------------- rules:if


_TOKEN = re.compile(r'\s*(&&|\|\||==|!=|\$\w+|"[^"]*"|\'[^\']*\'|null)')


def evaluate(expression: str, variables: dict[str, str]) -> bool:
    """`rules:if` with `$VAR`, quoted strings, `==`, `!=`, `&&`, `||` (no parentheses)."""
    tokens, pos = [], 0
    while pos < len(expression.rstrip()):
        match = _TOKEN.match(expression, pos)
        assert match, f"unsupported syntax in rules:if at {expression[pos:]!r}: extend the evaluator"
        tokens.append(match.group(1))
        pos = match.end()

    def value(token: str):
        if token.startswith("$"):
            return variables.get(token[1:])
        return None if token == "null" else token[1:-1]

    def comparison(part: list[str]) -> bool:
        if len(part) == 1:
            return bool(value(part[0]))
        left, op, right = part
        return (value(left) == value(right)) == (op == "==")

    def split(items: list[str], sep: str) -> list[list[str]]:
        groups: list[list[str]] = [[]]
        for t in items:
            groups.append([]) if t == sep else groups[-1].append(t)
        return groups

    return any(all(comparison(c) for c in split(alt, "&&")) for alt in split(tokens, "||"))


def first_rule(rules: list[dict], variables: dict[str, str]) -> dict | None:
    for rule in rules:
        if "if" not in rule or evaluate(rule["if"], variables):
            return rule
    return None


def pipeline(variables: dict[str, str]) -> dict[str, str]:
    """The jobs GitLab would create for a pipeline, with their `when`."""
    rule = first_rule(ci()["workflow"]["rules"], variables)
    if rule is None or rule.get("when") == "never":
        return {}
    created = {}
    for name in jobs():
        rules = job(name).get("rules")
        rule = first_rule(rules, variables) if rules else {}
        if rule is not None and rule.get("when") != "never":
            created[name] = rule.get("when", "on_success")
    return created


PROJECT, FORK = "7", "99"
MAIN = {"CI_DEFAULT_BRANCH": "main", "CI_PROJECT_ID": PROJECT}
MR = {**MAIN, "CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_PROJECT_ID": PROJECT}
SCENARIOS = {
    "merge request from a branch of this project": {**MR, "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": PROJECT},
    # A fork's merge request pipeline runs in the fork (CI_PROJECT_ID is the fork's) ...
    "merge request from a fork": {**MR, "CI_PROJECT_ID": FORK, "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": FORK},
    # ... unless a maintainer runs it in this project, with this project's variables.
    "fork merge request run in this project": {**MR, "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": FORK},
    "push to the default branch": {**MAIN, "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main"},
    "pipeline run by hand on the default branch": {
        **MAIN,
        "CI_PIPELINE_SOURCE": "web",
        "CI_COMMIT_BRANCH": "main",
    },
    "push to a feature branch": {**MAIN, "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "dns-ttl"},
}
APPLIES = {"apply:alpha": "manual", "destroy:alpha": "manual", "apply:prod": "manual"}
EXPECTED = {
    "merge request from a branch of this project": {
        "check": "on_success",
        "preview:prod": "on_success",
        "preview:alpha": "on_success",
    },
    "merge request from a fork": {"check": "on_success"},
    "fork merge request run in this project": {"check": "on_success"},
    "push to the default branch": {"check": "on_success", **APPLIES},
    "pipeline run by hand on the default branch": {"check": "on_success", **APPLIES},
    "push to a feature branch": {},  # its merge request pipeline does the work
}


def test_rule_evaluator_understands_the_syntax_used():
    v = {"A": "x", "B": "x", "C": "y"}
    assert evaluate('$A == "x" && $B == $A', v)
    assert not evaluate('$A == "x" && $C == $A', v)
    assert evaluate('$A == "nope" || $C != $A', v)
    assert not evaluate("$UNSET", v) and evaluate("$A", v)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_which_jobs_run_in_which_pipeline(scenario):
    assert pipeline(SCENARIOS[scenario]) == EXPECTED[scenario]


# --------------------------------------------------------------------------- validators


def test_ci_file_validates_against_gitlab_schema():
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci", str(CI_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_validation_catches_a_broken_file(tmp_path):
    """The validator runs offline and does reject mistakes (here: a misspelt keyword)."""
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text(CI_FILE.read_text().replace("resource_group: prod", "resource_grup: prod"))
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "resource_grup" in result.stdout


def shellcheck(script: str) -> str:
    """shellcheck's findings for a bash script, or "" when it is clean."""
    result = subprocess.run(
        ["shellcheck", "-s", "bash", "-"], input=script, capture_output=True, text=True, timeout=60
    )
    return result.stdout + result.stderr if result.returncode else ""


def scripts() -> list[tuple[str, str]]:
    """Every piece of shell as the runner executes it: before_script and script in one
    shell, after_script in another."""
    out = []
    for name in jobs():
        spec = job(name)
        out.append(
            (
                f"{name}: before_script + script",
                "\n".join(lines(spec.get("before_script")) + lines(spec["script"])),
            )
        )
        if spec.get("after_script"):
            out.append((f"{name}: after_script", "\n".join(lines(spec["after_script"]))))
    return out


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck: make test installs it")
def test_every_script_passes_shellcheck():
    assert len(scripts()) >= len(jobs())
    findings = {name: found for name, script in scripts() if (found := shellcheck(script))}
    assert findings == {}, "\n".join(f"--- {k}\n{v}" for k, v in findings.items())


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck: make test installs it")
def test_shellcheck_catches_a_real_mistake():
    assert "SC2086" in shellcheck('pulumi up --stack $STACK\nrm -rf "$dir"/*')


# --------------------------------------------------------------------------- what the jobs do


def test_pulumi_cli_matches_the_python_sdk_and_is_installed_the_standard_way():
    locked = re.search(r"^pulumi==([^\s\\]+)", (REPO_ROOT / "requirements.lock").read_text(), re.MULTILINE)
    assert ci()["variables"]["PULUMI_VERSION"] == locked.group(1)
    install = 'curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION"'
    for name in jobs():
        if any("pulumi " in line for line in lines(job(name)["script"])):
            assert install in lines(job(name)["before_script"]), name


def test_check_job_needs_no_secrets_and_keeps_plans_and_zone_files():
    check = job("check")
    assert "environment" not in check  # environment-scoped secrets never reach it
    script = "\n".join(lines(check["script"]))
    for command in ("make test", "make lint"):
        assert command in script
    for stack in ("prod", "alpha"):
        assert f"-m tools.plan {stack} > out/plan-{stack}.txt" in script
        assert f"-m tools.plan {stack} --json > out/plan-{stack}.json" in script
        assert f"-m tools.zonefile {stack} > out/{stack}.zone" in script
    assert check["artifacts"]["paths"] == ["out/"] and check["artifacts"]["when"] == "always"


def test_previews_use_the_preview_environments_and_post_a_comment():
    for stack in ("prod", "alpha"):
        spec = job(f"preview:{stack}")
        assert spec["variables"]["STACK"] == stack
        assert spec["environment"] == {"name": f"preview/{stack}", "action": "prepare"}
        script = "\n".join(lines(spec["script"]))
        assert 'pulumi preview --diff --non-interactive --color never --stack "$STACK"' in script
        assert '-m tools.gitlab_comment --stack "$STACK"' in script
        assert not re.search(r"pulumi (up|destroy|refresh|import)", script)
        assert "GITLAB_NOTE_TOKEN" in spec["variables"]["REQUIRED_VARIABLES"].split()
        # Unconfigured variables are a warning (exit 3); a failed preview fails the job.
        assert spec["allow_failure"] == {"exit_codes": [3]}
        assert "exit 3" in "\n".join(lines(spec["before_script"]))


@pytest.mark.parametrize(
    ("name", "command", "stack"),
    [("apply:alpha", "up", "alpha"), ("destroy:alpha", "destroy", "alpha"), ("apply:prod", "up", "prod")],
)
def test_applies_are_serialized_per_stack_and_use_its_protected_environment(name, command, stack):
    spec = job(name)
    assert lines(spec["script"])[-1].startswith(f"pulumi {command} --yes ")
    assert lines(spec["script"])[-1].endswith(f"--stack {stack}")
    assert spec["environment"]["name"] == stack
    assert spec["resource_group"] == stack
    assert spec["interruptible"] is False


def test_only_the_apply_jobs_change_anything():
    for name in jobs():
        script = "\n".join(lines(job(name)["script"]))
        if re.search(r"pulumi (up|destroy|refresh|import|cancel|state)\b", script):
            assert name in APPLIES, name


def test_referenced_make_targets_and_modules_exist():
    text = CI_FILE.read_text()
    makefile = (REPO_ROOT / "Makefile").read_text()
    for target in set(re.findall(r"\bmake (\w+)", text)):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"make {target}"
    for module in set(re.findall(r"-m tools\.(\w+)", text)):
        assert (REPO_ROOT / "tools" / f"{module}.py").is_file(), f"tools/{module}.py"


def test_docs_name_every_variable_and_environment_the_jobs_need():
    docs = DOCS.read_text()
    needed = set()
    for name in jobs():
        spec = job(name)
        needed |= set(spec.get("variables", {}).get("REQUIRED_VARIABLES", "").split())
        if "environment" in spec:
            needed.add(spec["environment"]["name"])
    assert len(needed) > 8
    assert sorted(n for n in needed if f"`{n}`" not in docs) == []
