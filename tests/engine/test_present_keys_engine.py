"""Issue 22 finding 8 under the real `pulumi preview` (real CLI and engine, stand-in plugins):
the CLI merges Pulumi.yaml's defaults, so `instance_domain: ''` reaches the program exactly as
the default would; the loader reads the stack file to tell them apart. A wrongly typed value
the CLI refuses itself."""

from __future__ import annotations

import pytest

from tests.engine.conftest import stack_file_with

pytestmark = pytest.mark.engine


def test_an_empty_value_the_cli_cannot_tell_from_the_default_fails_the_real_preview(preview, tmp_path):
    def empty(cfg):
        cfg["socialcoop-infra:instance_domain"] = ""

    rc, report = preview("alpha", stack_file=stack_file_with(tmp_path, "alpha", empty), policy=False)
    assert rc == 1
    errors = [d["message"] for d in report["diagnostics"] if d["severity"] == "error"]
    assert any('socialcoop-infra:instance_domain = "": a domain name' in m for m in errors), errors


def test_a_wrongly_typed_value_is_refused_by_the_cli_itself(preview, tmp_path):
    def listed(cfg):
        cfg["socialcoop-infra:adopting"] = []

    rc, report = preview("alpha", stack_file=stack_file_with(tmp_path, "alpha", listed), policy=False)
    assert rc == 1
    assert "adopting' must be of type 'boolean'" in report["error"], report["error"]
