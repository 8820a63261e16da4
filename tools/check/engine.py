"""Run the real Pulumi engine on a stack, offline and throwaway: `make preview STACK=alpha`.

    python -m tools.engine preview alpha [--json] [--stack-file F]

What it sets up, each time from nothing (docs/engine.md):
- the `pulumi` CLI from `make engine` (.engine/bin), or the one named by $PULUMI_CLI;
- a temporary PULUMI_HOME, a local file backend (`file://` in a temp folder), the passphrase
  secrets provider with a random passphrase, update checks and plugin downloads off;
- a copy of Pulumi.yaml and of the stack file (committed files are never written), the stack
  initialised from it, secure values set with `pulumi config set --secret` (a throwaway key);
- fake provider tokens of the shapes the providers check.

The Python language host can't be built here (engine/refused-modules.txt), so the program runs as
an Automation API inline program: this Python process serves the language runtime to the real CLI
(`pulumi preview --client`). The program, the config and the CLI are the real ones.

Resource plugins come from .engine/bin (`pulumi-resource-NAME`) or the user's own
~/.pulumi/plugins (official plugins: `pulumi plugin install resource NAME VERSION --exact`).
A missing one stops the run before the engine starts, saying which and why.
`--plugins DIR` takes them from DIR instead (the real-engine tests use it for their stand-in).

The policy pack in policy/ runs with every preview (`--policy-pack DIR` for another one), as in CI.

--json prints one JSON document built from the engine's own event stream: every step (op, type,
name, urn), every diagnostic (severity, message), every policy violation, the change summary and,
on failure, the CLI's error output. Exit status: 0 preview succeeded, 1 it failed, 2 bad usage,
3 a plugin or the CLI is missing.
"""

import argparse
import importlib.util
import json
import os
import runpy
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROJECT = "socialcoop-infra"
POLICY_SHIM = REPO / "engine" / "pulumi-analyzer-policy-python"  # our shim (docs/engine.md)
POLICY_PACK = REPO / "policy"
SDK_PACKAGES = ("pulumi_hcloud", "pulumi_cloudflare", "pulumi_digitalocean", "pulumi_command")

# Shapes the providers check before any API call (docs/engine.md). Obviously fake.
FAKE_TOKENS = {
    "HCLOUD_TOKEN": "fake" + "0" * 60,
    "HCLOUD_DNS_TOKEN": "fakedns" + "0" * 57,  # Hetzner DNS's own project (docs/dns-cutover.md)
    "CLOUDFLARE_API_TOKEN": "fake-cloudflare-token-" + "0" * 18,
    "DIGITALOCEAN_TOKEN": "fake-digitalocean-token",
    "SPACES_ACCESS_KEY_ID": "FAKESPACESACCESSKEY0",
    "SPACES_SECRET_ACCESS_KEY": "fake-spaces-secret-" + "0" * 24,
}


class Missing(Exception):
    """The CLI or a resource plugin isn't there; the message says what to do."""


def required_plugins() -> dict[str, str]:
    """name -> version of each resource plugin the program's provider SDKs ask for."""
    out = {}
    for pkg in SDK_PACKAGES:
        found = importlib.util.find_spec(pkg)
        if found is None or found.origin is None:
            raise Missing(f"the provider SDK {pkg} is not installed: make venv")
        spec = json.loads((Path(found.origin).parent / "pulumi-plugin.json").read_text())
        out[spec["name"]] = spec["version"]
    return out


def _refused() -> dict[str, str]:
    path = REPO / ".engine" / "refused.txt"
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            what, module = line.split(maxsplit=1)
            name = what.split("(")[0].split("-")[0]
            out[name] = f"{out[name]}, {module}" if name in out else module
    return out


def find_plugin(name: str, version: str, plugin_dir: Path | None) -> Path:
    exe = f"pulumi-resource-{name}"
    if plugin_dir is not None:
        candidates = [plugin_dir / exe]
    else:
        user_home = Path(os.environ.get("PULUMI_HOME", Path.home() / ".pulumi"))
        candidates = [
            REPO / ".engine" / "bin" / exe,
            user_home / "plugins" / f"resource-{name}-v{version}" / exe,
        ]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    refused = _refused().get(name)
    why = f"`make engine` can't build it here: the Go module proxy refuses {refused}" if refused else ""
    raise Missing(
        f"resource plugin {name} {version} not found (looked in {', '.join(map(str, candidates))}). "
        f"{why + '. ' if why else ''}With internet: `pulumi plugin install resource {name} {version} --exact`."
    )


def cli_root() -> Path:
    """The folder whose bin/pulumi the Automation API runs."""
    cli = Path(os.environ.get("PULUMI_CLI") or REPO / ".engine" / "bin" / "pulumi")
    if not (cli.is_file() and os.access(cli, os.X_OK)):
        raise Missing(f"no pulumi CLI at {cli}: run `make engine`, or set PULUMI_CLI to an official one")
    if cli.parent.name != "bin":
        raise Missing(f"PULUMI_CLI must be a path ending in bin/pulumi, not {cli}")
    return cli.parent.parent


def throwaway_ssh_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()


def inline_program(path: Path):
    """The inline program: by default exactly what `pulumi preview` runs, the repo's __main__.py."""

    def run() -> None:
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        runpy.run_path(str(path), run_name="__main__")

    return run


def _event_record(ev, report: dict) -> None:
    if ev.resource_pre_event is not None:
        m = ev.resource_pre_event.metadata
        op = m.op.value if hasattr(m.op, "value") else str(m.op)
        report["steps"].append({"op": op, "type": m.type, "urn": m.urn, "name": m.urn.rsplit("::", 1)[-1]})
    elif ev.diagnostic_event is not None:
        d = ev.diagnostic_event
        if d.severity == "debug":
            return
        report["diagnostics"].append({"severity": d.severity, "message": d.message.strip(), "urn": d.urn})
    elif ev.policy_event is not None:
        p = ev.policy_event
        report["policy_violations"].append(
            {
                "policy": p.policy_name,
                "pack": p.policy_pack_name,
                "level": p.enforcement_level,
                "message": p.message.strip(),
                "urn": p.resource_urn,
            }
        )


def preview(
    stack: str,
    stack_file: Path | None = None,
    policy_pack: Path | None = None,
    plugin_dir: Path | None = None,
    project_file: Path | None = None,
    program: Path | None = None,
    echo=print,
) -> tuple[bool, dict]:
    """Run a real `pulumi preview --diff` of `stack` in a throwaway workspace. (ok, report)."""
    from pulumi import automation as auto

    root = cli_root()
    plugins, missing = {}, []  # name -> (version, executable)
    for name, version in required_plugins().items():
        try:
            plugins[name] = (version, find_plugin(name, version, plugin_dir))
        except Missing as e:
            missing.append(str(e))
    if missing:
        raise Missing("\n".join(missing))
    stack_file = Path(stack_file or REPO / f"Pulumi.{stack}.yaml")
    with tempfile.TemporaryDirectory(prefix="socialcoop-engine-") as tmp_dir:
        tmp = Path(tmp_dir)
        work, home, state = tmp / "project", tmp / "home", tmp / "state"
        for d in (work, home, state):
            d.mkdir()
        shutil.copy(project_file or REPO / "Pulumi.yaml", work / "Pulumi.yaml")
        shutil.copy(stack_file, work / f"Pulumi.{stack}.yaml")
        env = {
            "PULUMI_HOME": str(home),
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(24),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "SOCIALCOOP_PYTHON": sys.executable,
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",  # only the plugins installed below, at exact versions
            # the loader reads which keys the stack file sets (components/core/config.py): this copy
            "SOCIALCOOP_STACK_FILE": str(work / f"Pulumi.{stack}.yaml"),
            **FAKE_TOKENS,
        }
        os.environ.update(env)  # the inline program and the CLI both read these
        cmd = auto.PulumiCommand(root=str(root), skip_version_check=True)
        ws = auto.LocalWorkspace(
            work_dir=str(work),
            program=inline_program(program or REPO / "__main__.py"),
            pulumi_command=cmd,
            env_vars=env,
        )
        installs = [  # exact versions in the throwaway PULUMI_HOME: no ambient-plugin warning
            ["resource", name, version, "--file", str(path)] for name, (version, path) in plugins.items()
        ]
        if policy_pack:  # the CLI's fallback for a Python pack when no language host is installed
            installs.append(["analyzer", "policy-python", "1.0.0", "--file", str(POLICY_SHIM)])
        for args in installs:
            cmd.run(["plugin", "install", *args], str(work), dict(os.environ))
        report: dict[str, Any] = {"stack": stack, "steps": [], "diagnostics": [], "policy_violations": []}
        try:
            st = auto.Stack.create(stack, ws)
            st.set_config(f"{PROJECT}:bootstrap_ssh_key", auto.ConfigValue(throwaway_ssh_key(), secret=True))
            res = st.preview(
                diff=True,
                policy_packs=[str(Path(policy_pack).resolve())] if policy_pack else None,
                on_output=echo,
                on_event=lambda ev: _event_record(ev, report),
            )
            report["change_summary"] = {
                str(k.value if hasattr(k, "value") else k): v for k, v in res.change_summary.items()
            }
            return True, report
        except auto.CommandError as e:
            report["error"] = str(e)
            return False, report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.engine", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("preview", help="a real `pulumi preview --diff` of a stack, throwaway and offline")
    p.add_argument("stack", choices=["alpha", "prod"])
    p.add_argument("--stack-file", type=Path, help="stack file to use instead of Pulumi.<stack>.yaml")
    p.add_argument(
        "--policy-pack", type=Path, default=POLICY_PACK, help="policy pack folder (default: %(default)s)"
    )
    # tests only: a preview without the pack (the real CLI's own checks, test programs)
    p.add_argument(
        "--no-policy-pack", action="store_const", const=None, dest="policy_pack", help=argparse.SUPPRESS
    )
    p.add_argument("--plugins", type=Path, help="folder holding pulumi-resource-NAME executables")
    # tests only: another Pulumi.yaml, another program (tests/engine/programs/)
    p.add_argument("--project-file", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--program", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print the engine's steps and diagnostics as JSON")
    args = ap.parse_args(argv)
    echo = (lambda s: print(s, file=sys.stderr)) if args.json else print
    try:
        ok, report = preview(
            args.stack,
            args.stack_file,
            args.policy_pack,
            args.plugins,
            args.project_file,
            args.program,
            echo=echo,
        )
    except Missing as e:
        print(f"tools.engine: {e}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(report, indent=2))
    elif not ok:
        print(report["error"], file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
