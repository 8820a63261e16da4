""".gitlab-ci.yml: GitLab's schema, shellcheck on every script, which jobs run when, which
secrets each job can get, and the pinned inputs (image digest, Pulumi CLI checksum, hashes).

Which jobs each pipeline gets, automatic or manual, comes from GitLab's job runner run
locally (gitlab-ci-local, tests/pipeline/). This file keeps a small walk of the rules only
for what that runner does not emulate (docs/ci.md, "What the tests run for real"):
`workflow:rules` (which pipelines start at all) and who can reach which variables through
protected environments and protected variables, worked out the way GitLab hands them out
(environment scope, Protect variable) from the table in docs/ci.md, the table the TWG sets
up GitLab from. The walk uses a small evaluator for the subset of `rules:if` the file uses.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from functools import cache
from pathlib import Path

import pytest
import yaml

from components.core.config import REPO_ROOT
from tests.fakehttp import release_server, serving

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


def job(name: str, doc: dict | None = None) -> dict:
    """A job as GitLab runs it: `extends` resolved, `default:` filled in."""
    doc = ci() if doc is None else doc
    raw = doc[name]
    parents = raw.get("extends", [])
    merged: dict = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = _merge(merged, job(parent, doc))
    merged = _merge(merged, {k: v for k, v in raw.items() if k != "extends"})
    if not name.startswith("."):
        merged = {**doc.get("default", {}), **merged}
    return merged


def jobs(doc: dict | None = None) -> list[str]:
    doc = ci() if doc is None else doc
    return [
        k
        for k, v in doc.items()
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


def pipeline(variables: dict[str, str], doc: dict | None = None) -> dict[str, str]:
    """The jobs GitLab would create for a pipeline, with their `when`."""
    doc = ci() if doc is None else doc
    rule = first_rule(doc["workflow"]["rules"], variables)
    if rule is None or rule.get("when") == "never":
        return {}
    created = {}
    for name in jobs(doc):
        rules = job(name, doc).get("rules")
        rule = first_rule(rules, variables) if rules else {}
        if rule is not None and rule.get("when") != "never":
            created[name] = rule.get("when", "on_success")
    return created


PROJECT, FORK = "7", "99"
MAIN = {"CI_DEFAULT_BRANCH": "main", "CI_PROJECT_ID": PROJECT}
MR = {**MAIN, "CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_PROJECT_ID": PROJECT}
SCHEDULE = {**MAIN, "CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main"}
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
    "drift schedule for prod": {**SCHEDULE, "DRIFT_STACK": "prod"},
    "drift schedule for alpha": {**SCHEDULE, "DRIFT_STACK": "alpha"},
    "schedule on a feature branch": {**SCHEDULE, "CI_COMMIT_BRANCH": "dns-ttl", "DRIFT_STACK": "prod"},
}
APPLIES = {"apply:alpha": "manual", "destroy:alpha": "manual", "apply:prod": "manual"}
EXPECTED = {
    "merge request from a branch of this project": {
        "check": "on_success",
        "preview:alpha": "on_success",
        "preview:prod": "manual",  # a Maintainer starts it, in the protected environment preview/prod
    },
    "merge request from a fork": {"check": "on_success"},
    "fork merge request run in this project": {"check": "on_success"},
    "push to the default branch": {"check": "on_success", **APPLIES},
    "pipeline run by hand on the default branch": {"check": "on_success", **APPLIES},
    "push to a feature branch": {},  # its merge request pipeline does the work
    # drift: only the scheduled stack's job, never an apply
    "drift schedule for prod": {"check": "on_success", "drift:prod": "on_success"},
    "drift schedule for alpha": {"check": "on_success", "drift:alpha": "on_success"},
    "schedule on a feature branch": {},
}


def test_rule_evaluator_understands_the_syntax_used():
    v = {"A": "x", "B": "x", "C": "y"}
    assert evaluate('$A == "x" && $B == $A', v)
    assert not evaluate('$A == "x" && $C == $A', v)
    assert evaluate('$A == "nope" || $C != $A', v)
    assert not evaluate("$UNSET", v) and evaluate("$A", v)


# gitlab-ci-local checks every other scenario's job set against EXPECTED, and that pipeline()
# (which the secrets walk below uses) agrees with it (tests/pipeline/). It does not evaluate
# `workflow:rules`, so the pipelines those rules refuse are checked here.
@pytest.mark.parametrize("scenario", [s for s, jobs in EXPECTED.items() if not jobs])
def test_workflow_rules_start_no_pipeline(scenario):
    assert pipeline(SCENARIOS[scenario]) == EXPECTED[scenario] == {}


# --------------------------------------------------------------------------- validators


@pytest.mark.slow
def test_ci_file_validates_against_gitlab_schema():
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci", str(CI_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
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


def test_check_job_needs_no_secrets_and_keeps_plans_and_zone_files():
    check = job("check")
    # its own environment: only the check bot's note token, nothing of a stack's
    assert check["environment"] == {"name": "check", "action": "prepare"}
    assert secrets_table()["variables"]["check"] == {"GITLAB_NOTE_TOKEN"}
    script = "\n".join(lines(check["script"]))
    for command in ("make test", "make lint"):
        assert command in script
    for stack in ("prod", "alpha"):
        assert f"-m tools.plan {stack} > out/plan-{stack}.txt" in script
        assert f"-m tools.plan {stack} --json > out/plan-{stack}.json" in script
        assert f"-m tools.zonefile {stack} > out/{stack}.zone" in script
    assert check["artifacts"]["paths"] == ["out/"] and check["artifacts"]["when"] == "always"


def test_previews_use_the_preview_environments_run_the_policy_pack_and_post_a_comment():
    for stack in ("prod", "alpha"):
        spec = job(f"preview:{stack}")
        assert spec["variables"]["STACK"] == stack
        assert spec["environment"] == {"name": f"preview/{stack}", "action": "prepare"}
        script = "\n".join(lines(spec["script"]))
        assert (
            'pulumi preview --diff --non-interactive --color never --policy-pack policy --stack "$STACK"'
            in script
        )
        assert '-m tools.gitlab_comment --stack "$STACK"' in script
        assert not re.search(r"pulumi (up|destroy|refresh|import)", script)
        assert "GITLAB_NOTE_TOKEN" in spec["variables"]["REQUIRED_VARIABLES"].split()
        assert "exit 3" in "\n".join(lines(spec["before_script"]))
    # alpha's: unconfigured variables are a warning (exit 3), a failed preview fails the job.
    assert job("preview:alpha")["allow_failure"] == {"exit_codes": [3]}
    # prod's is started by hand and optional: the pipeline passes without it.
    [rule] = job("preview:prod")["rules"]
    assert rule["when"] == "manual" and rule["allow_failure"] is True


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


# --------------------------------------------------------------------------- who sees which secret


def secrets_table(text: str | None = None) -> dict:
    """The table under "Who sees which secret" in docs/ci.md: one column per environment
    scope, with the jobs that use it, whether the environment is protected, whether its
    variables are protected, and the variables set in it ("—": not set)."""
    text = DOCS.read_text() if text is None else text
    section = text.split("## Who sees which secret", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|")
    ]
    header, _, *body = rows
    scopes = [m.group(1) for cell in header[1:] if (m := re.fullmatch(r"`([^`]+)`", cell))]
    by_label = {row[0]: dict(zip(scopes, row[1:], strict=True)) for row in body}

    def yes_no(label: str) -> dict[str, bool]:
        cells = by_label[label]
        assert set(cells.values()) <= {"yes", "no"}, f"{label}: write yes or no"
        return {scope: cell == "yes" for scope, cell in cells.items()}

    variables: dict[str, set[str]] = {scope: set() for scope in scopes}
    for label, cells in by_label.items():
        if m := re.match(r"`([A-Z][A-Z0-9_]*)`", label):
            for scope, cell in cells.items():
                if cell != "—":
                    variables[scope].add(m.group(1))
    assert set(by_label["whose secrets"].values()) <= {"alpha", "prod", "none"}
    return {
        "scopes": scopes,
        "stack": by_label["whose secrets"],
        "jobs": {scope: re.findall(r"`([^`]+)`", cell) for scope, cell in by_label["jobs"].items()},
        "protected_environment": yes_no("protected environment"),
        "protected_variables": yes_no("variables: Protect variable"),
        "variables": variables,
    }


def variables_for(spec: dict, table: dict, ref_protected: bool) -> set[tuple[str, str]]:
    """What GitLab hands a job: each variable whose environment scope matches the job's
    environment (`*` wildcards as GitLab has them), protected ones only on protected refs."""
    environment = (spec.get("environment") or {}).get("name", "")
    return {
        (name, scope)
        for scope in table["scopes"]
        if re.fullmatch(re.escape(scope).replace(r"\*", ".*"), environment)
        and (ref_protected or not table["protected_variables"][scope])
        for name in table["variables"][scope]
    }


UNPROTECTED_MERGE_REQUESTS = (
    "merge request from a branch of this project",
    "fork merge request run in this project",
)


def prod_secrets_a_developer_can_reach(doc: dict, table: dict) -> dict[str, list[str]]:
    """Jobs that a merge request pipeline (an unprotected branch) creates and a Developer can
    start (anything not in a protected environment: a manual job is only a button), with the
    prod variables GitLab would hand them."""
    found = {}
    for scenario in UNPROTECTED_MERGE_REQUESTS:
        for name in pipeline(SCENARIOS[scenario], doc):
            spec = job(name, doc)
            environment = (spec.get("environment") or {}).get("name")
            if table["protected_environment"].get(environment):
                continue  # GitLab refuses the job to anyone not allowed to deploy there
            got = variables_for(spec, table, False)
            leaked = sorted(f"{v} ({s})" for v, s in got if table["stack"][s] == "prod")
            if leaked:
                found[name] = leaked
    return found


def test_no_job_a_developer_can_start_on_a_merge_request_gets_a_prod_variable():
    table = secrets_table()
    assert [s for s in table["scopes"] if table["stack"][s] == "prod"] == ["preview/prod", "prod"]
    assert prod_secrets_a_developer_can_reach(ci(), table) == {}
    # ... while alpha's preview does get alpha's set, so the walk does look at variables:
    spec = job("preview:alpha")
    assert {v for v, _ in variables_for(spec, table, False)} >= {"PULUMI_CONFIG_PASSPHRASE", "HCLOUD_TOKEN"}


def test_the_walk_catches_a_wildcard_scope_or_an_unprotected_prod_environment():
    table = secrets_table()
    # The old docs' `preview/*` scope would hand prod's preview values to alpha's job too.
    wild = copy.deepcopy(table)
    wild["scopes"] = ["preview/*" if s == "preview/prod" else s for s in wild["scopes"]]
    for key in ("stack", "protected_environment", "protected_variables", "variables"):
        wild[key]["preview/*"] = wild[key].pop("preview/prod")
    assert "preview:alpha" in prod_secrets_a_developer_can_reach(ci(), wild)
    # Without the protected environment, anyone can press preview:prod's button.
    open_env = copy.deepcopy(table)
    open_env["protected_environment"]["preview/prod"] = False
    reached = prod_secrets_a_developer_can_reach(ci(), open_env)
    assert "PULUMI_CONFIG_PASSPHRASE (preview/prod)" in reached["preview:prod"]


def test_a_branch_that_edits_the_ci_file_still_cannot_reach_prod_variables():
    """A merge request's own .gitlab-ci.yml is what runs: the environments' protection holds."""
    doc = copy.deepcopy(ci())
    doc["steal"] = {"stage": "test", "script": ["env"], "environment": {"name": "preview/prod"}}
    doc["steal-too"] = {"stage": "test", "script": ["env"], "environment": {"name": "prod"}}
    doc["preview:prod"]["rules"] = [{"if": "$CI_PIPELINE_SOURCE"}]  # made automatic
    assert {"steal", "steal-too", "preview:prod"} <= set(
        pipeline(SCENARIOS[UNPROTECTED_MERGE_REQUESTS[0]], doc)
    )
    assert prod_secrets_a_developer_can_reach(doc, secrets_table()) == {}


def test_the_table_matches_the_jobs():
    table = secrets_table()
    for scope in table["scopes"]:
        assert "*" not in scope, f"{scope}: no wildcard scopes"
        for name in table["jobs"][scope]:
            assert job(name)["environment"]["name"] == scope, name
            if "REQUIRED_VARIABLES" not in job(name).get("variables", {}):
                continue  # check: its note token is optional (a fork's pipeline has none)
            needed = set(job(name)["variables"]["REQUIRED_VARIABLES"].split())
            assert needed == table["variables"][scope], (
                f"{scope}: the table and {name}'s REQUIRED_VARIABLES differ"
            )
        if table["stack"][scope] == "prod":
            assert table["protected_environment"][scope], f"{scope} must be a protected environment"
    with_environment = {name for name in jobs() if "environment" in job(name)}
    assert with_environment == {name for names in table["jobs"].values() for name in names}
    for name in with_environment:
        assert "$" not in job(name)["environment"]["name"], f"{name}: the environment is chosen at run time"
    # Protected variables reach only protected branches: their jobs run on the default branch only.
    for scope in table["scopes"]:
        if table["protected_variables"][scope]:
            for name in table["jobs"][scope]:
                for scenario, variables in SCENARIOS.items():
                    if name in pipeline(variables):
                        assert variables.get("CI_COMMIT_BRANCH") == "main", (name, scenario)


# --------------------------------------------------------------------------- pinned inputs

PLACEHOLDER_DIGEST = "sha256:PLACEHOLDER-TO-BE-FILLED-BY-THE-TWG"
PLACEHOLDER_SHA256 = "PLACEHOLDER-TO-BE-FILLED-BY-THE-TWG-see-docs-ci-md"
# distribution/reference's grammar for a digest: algorithm ":" at least 32 hex digits.
VALID_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
INSTALLER = REPO_ROOT / ".ci" / "install-pulumi.sh"
CHECKSUMS = REPO_ROOT / ".ci" / "pulumi.sha256"


def images(doc: dict) -> list[tuple[str, str]]:
    found = []
    for where, spec in [
        ("default", doc.get("default", {})),
        *((n, doc[n]) for n in doc if isinstance(doc[n], dict)),
    ]:
        image = spec.get("image")
        if image is not None:
            found.append((where, image["name"] if isinstance(image, dict) else image))
    return found


def test_every_image_is_pinned_by_digest_or_by_the_placeholder_that_fails_closed():
    found = images(ci())
    assert found and found[0][0] == "default"
    for where, image in found:
        name, _, digest = image.partition("@")
        assert name == "python:3.11-bookworm", where
        if digest == PLACEHOLDER_DIGEST:
            # Not a valid reference: the runner cannot pull it, every job fails before it starts.
            assert not VALID_DIGEST.fullmatch(digest)
        else:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{where}: {image} is not pinned by digest"


def checksum_lines() -> list[tuple[str, str]]:
    lines = [line for line in CHECKSUMS.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return [(digest, tarball) for digest, tarball in (line.split("  ", 1) for line in lines)]


def test_pulumi_cli_matches_the_python_sdk_and_has_its_checksum_line():
    locked = re.search(r"^pulumi==([^\s\\]+)", (REPO_ROOT / "requirements.lock").read_text(), re.MULTILINE)
    version = ci()["variables"]["PULUMI_VERSION"]
    assert locked is not None and version == locked.group(1)
    [(digest, tarball)] = checksum_lines()
    assert tarball == f"pulumi-v{version}-linux-x64.tar.gz"
    assert digest == PLACEHOLDER_SHA256 or re.fullmatch(r"[0-9a-f]{64}", digest)


def test_jobs_get_the_pulumi_cli_only_through_the_checksum_check():
    text = CI_FILE.read_text()
    assert not re.search(r"(curl|wget)[^\n]*\|\s*(ba|z)?sh\b", text)
    assert "get.pulumi.com" not in text
    users = 0
    for name in jobs():
        spec = job(name)
        body = [line.strip() for line in lines(spec.get("before_script")) + lines(spec["script"])]
        uses = [i for i, line in enumerate(body) if line.startswith("pulumi ")]
        if uses:
            users += 1
            assert body.index('sh .ci/install-pulumi.sh "$HOME/.pulumi/bin"') < min(uses), name
    assert users == 7


def test_python_packages_install_only_from_the_hashed_lock():
    text = CI_FILE.read_text()
    assert "pip install" not in text  # only through `make venv`
    assert "make venv" in lines(job("check")["script"]) and "make venv" in lines(
        ci()[".pulumi"]["before_script"]
    )
    dry = subprocess.run(
        ["make", "-n", "-B", "venv"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
    )
    installs = [line for line in dry.stdout.splitlines() if "pip install" in line]
    assert len(installs) == 1 and re.search(r"--require-hashes -r requirements\.lock$", installs[0])
    lock = (REPO_ROOT / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 2)[2])  # after the two comment lines
    assert len(blocks) > 20
    for block in blocks:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), block.splitlines()[0]


@pytest.fixture
def releases():
    """Pulumi's release server on 127.0.0.1: one fake CLI tarball; records every request."""
    version = ci()["variables"]["PULUMI_VERSION"]
    tarball = f"pulumi-v{version}-linux-x64.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        script = f"#!/bin/sh\necho v{version}\n".encode()
        info = tarfile.TarInfo("pulumi/pulumi")
        info.size, info.mode = len(script), 0o755
        tar.addfile(info, io.BytesIO(script))
    data = buffer.getvalue()
    seen: list[str] = []
    with serving(release_server(tarball, data, seen)) as server:
        yield {
            "url": f"http://127.0.0.1:{server.server_address[1]}/releases/sdk",
            "tarball": tarball,
            "sha256": hashlib.sha256(data).hexdigest(),
            "version": version,
            "seen": seen,
        }


def install(
    tmp_path: Path, releases: dict, checksums: str, opt_in: bool = True
) -> subprocess.CompletedProcess:
    sums = tmp_path / "pulumi.sha256"
    sums.write_text(checksums)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PULUMI_VERSION": releases["version"],
        "PULUMI_RELEASES_URL": releases["url"],
        "PULUMI_SHA256_FILE": str(sums),
    }
    if opt_in:
        env["SOCIALCOOP_ALLOW_HTTP_LOOPBACK"] = "1"
    command = ["sh", str(INSTALLER), str(tmp_path / "bin")]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_installer_with_the_right_checksum_installs_and_checks_the_version(tmp_path, releases):
    result = install(tmp_path, releases, f"{releases['sha256']}  {releases['tarball']}\n")
    assert result.returncode == 0, result.stderr
    assert "SHA-256 checked" in result.stdout
    run = subprocess.run(
        [str(tmp_path / "bin" / "pulumi"), "version"], capture_output=True, text=True, timeout=10
    )
    assert run.stdout.strip() == f"v{releases['version']}"


def test_installer_refuses_a_tarball_whose_checksum_differs(tmp_path, releases):
    result = install(tmp_path, releases, f"{'0' * 64}  {releases['tarball']}\n")
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr
    assert releases["seen"] == [f"/releases/sdk/{releases['tarball']}"]
    assert not (tmp_path / "bin" / "pulumi").exists()


def test_the_committed_checksum_file_fails_closed_against_a_fake_release(tmp_path, releases):
    """With the placeholder nothing is even downloaded; a real checksum cannot match the fake."""
    result = install(tmp_path, releases, CHECKSUMS.read_text())
    assert result.returncode != 0
    assert not (tmp_path / "bin" / "pulumi").exists()
    if checksum_lines()[0][0] == PLACEHOLDER_SHA256:
        assert "placeholder" in result.stderr and releases["seen"] == []


@pytest.mark.parametrize(
    ("checksums", "opt_in", "message"),
    [
        (
            "{sha256}  pulumi-v3.0.0-linux-x64.tar.gz\n",
            True,
            "has no line for",
        ),  # a version bump without its line
        ("{sha256}  {tarball}\n", False, "Protocol"),  # plain http without the tests' opt-in
    ],
)
def test_installer_stops_before_downloading(tmp_path, releases, checksums, opt_in, message):
    result = install(tmp_path, releases, checksums.format(**releases), opt_in=opt_in)
    assert result.returncode != 0 and message in result.stderr
    assert releases["seen"] == []


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck: make test installs it")
def test_installer_passes_shellcheck():
    result = subprocess.run(
        ["shellcheck", "-s", "sh", str(INSTALLER)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout


# --------------------------------------------------------------------------- the policy pack everywhere

# The pulumi commands that change a stack or show what would change. pulumi 3.260 takes
# --policy-pack on preview, up and watch only (pkg/cmd/pulumi/operations/{preview,up,watch}.go);
# destroy, refresh and import have no such flag (tests/engine/test_policy_engine.py asks the CLI).
PULUMI_OPERATION = re.compile(r"\bpulumi\s+(up|preview|watch|update|destroy|refresh|import)\b")
TAKES_POLICY_PACK = {"up", "preview", "watch", "update"}


def policy_gaps(doc: dict) -> list[str]:
    """Every pulumi operation in a job without the policy pack: on the command itself where the
    CLI takes it, else a policy preview and the pack's check of the state earlier in the job."""
    gaps = []
    for name in jobs(doc):
        spec = job(name, doc)
        before: list[str] = []
        for line in lines(spec.get("before_script")) + lines(spec.get("script")):
            found = PULUMI_OPERATION.search(line)
            if found and found.group(1) in TAKES_POLICY_PACK:
                if "--policy-pack policy" not in line:
                    gaps.append(f"{name}: {line}")
            elif found:
                given = re.search(r"--stack (\S+)", line)
                stack = given.group(1) if given else "?"
                previewed = any(
                    re.search(r"\bpulumi preview\b", b)
                    and "--policy-pack policy" in b
                    and f"--stack {stack}" in b
                    for b in before
                )
                checked = any(
                    f"pulumi stack export --show-secrets --stack {stack} | .venv/bin/python -m tools.policy_state {stack}"
                    in b
                    for b in before
                )
                if "--policy-pack" in line or not (previewed and checked):
                    gaps.append(f"{name}: {line}")
            before.append(line)
    return gaps


def test_every_pulumi_operation_runs_the_policy_pack():
    operations = [
        (name, m.group(1))
        for name in jobs()
        for line in lines(job(name).get("script"))
        if (m := PULUMI_OPERATION.search(line))
    ]
    assert {op for _, op in operations} >= {"preview", "up", "destroy"}
    assert policy_gaps(ci()) == []


@pytest.mark.parametrize(
    ("job_name", "edit"),
    [
        ("apply:prod", lambda s: s.replace(" --policy-pack policy", "")),
        ("apply:alpha", lambda s: s.replace("--policy-pack policy", "--policy-pack other")),
        ("destroy:alpha", lambda s: s.replace("pulumi preview", "pulumi version")),
        ("destroy:alpha", lambda s: s.replace("tools.policy_state", "tools.plan")),
        ("destroy:alpha", lambda s: s.replace("--stack alpha", "--policy-pack policy --stack alpha")),
        ("drift:prod", lambda s: s.replace(" --policy-pack policy", "")),
    ],
)
def test_the_policy_check_catches_an_operation_without_the_pack(job_name, edit):
    doc = copy.deepcopy(ci())
    own = doc[job_name] if "script" in doc[job_name] else doc[doc[job_name]["extends"]]
    own["script"] = [edit(line) for line in lines(own["script"])]
    assert policy_gaps(ci()) == [] and policy_gaps(doc), job_name


def test_a_new_job_with_a_pulumi_operation_needs_the_pack_too():
    doc = copy.deepcopy(ci())
    doc["refresh:prod"] = {"stage": "apply", "script": ["pulumi refresh --yes --stack prod"]}
    doc["up-too"] = {"stage": "apply", "before_script": ["pulumi up --yes --stack prod"], "script": ["true"]}
    assert [g.split(":")[0] for g in policy_gaps(doc)] == ["refresh", "up-too"]  # and nothing else
