"""tools.check.engine without the engine: what it needs and what it says when something is missing."""

import subprocess
import sys

import pytest

from tools.check.engine import FAKE_TOKENS, REPO, required_plugins


def run(*args, env_extra=None):
    env = {"PATH": "/usr/bin:/bin", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "tools.engine", *args], cwd=REPO, capture_output=True, text=True, env=env
    )


def test_the_plugins_required_are_the_provider_sdks_locked_versions():
    from importlib.metadata import version

    want = {n: version(f"pulumi-{n}") for n in ("hcloud", "cloudflare", "digitalocean", "command")}
    assert required_plugins() == want


def test_fake_tokens_have_the_shapes_the_providers_check():
    import re

    assert len(FAKE_TOKENS["HCLOUD_TOKEN"]) == 64
    assert re.fullmatch(r"[0-9A-Za-z_-]{40,80}", FAKE_TOKENS["CLOUDFLARE_API_TOKEN"])
    assert all("fake" in v.lower() for v in FAKE_TOKENS.values())


@pytest.mark.slow
def test_a_missing_cli_stops_with_exit_3_and_says_how_to_get_one(tmp_path):
    p = run("preview", "alpha", env_extra={"PULUMI_CLI": str(tmp_path / "bin" / "pulumi")})
    assert p.returncode == 3
    assert "run `make engine`" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow
def test_missing_plugins_are_all_named_with_the_way_to_install_them(tmp_path):
    cli = tmp_path / "bin" / "pulumi"
    cli.parent.mkdir()
    cli.write_text("#!/bin/sh\nexit 99\n")  # never reached: the plugin check comes first
    cli.chmod(0o755)
    empty = tmp_path / "plugins"
    empty.mkdir()
    p = run("preview", "alpha", "--plugins", str(empty), env_extra={"PULUMI_CLI": str(cli)})
    assert p.returncode == 3, p.stderr
    for name, version in required_plugins().items():
        assert f"resource plugin {name} {version} not found" in p.stderr
        assert f"pulumi plugin install resource {name} {version} --exact" in p.stderr
    assert "Traceback" not in p.stderr
