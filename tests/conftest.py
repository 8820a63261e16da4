"""Shared fixtures: one mocks class (tools.review.plan's), captured resource options, stack files.

Component tests: use ``pulumi_mocks`` (and ``captured_options``), build components inside a
``@pulumi.runtime.test`` function and *return* ``Output.all(...).apply(check)``.
Whole-stack tests: ``plan("prod")`` runs the real program with the real stack file, and
``bad_stack(...)`` writes a modified stack file to try the loader's errors.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import settings

from components.core import safe_yaml
from components.core.errors import PROJECT, REPO_ROOT, ConfigError
from components.core.stack import StackConfig
from tools.review import program, stackfile

program.without_source_positions()  # components built under the mocks below too


# -- Plans of the same input are run once per test process -------------------------------------
# A hundred tests plan the committed stack files, or the same copy of one, and a plan is most
# of such a test's time. The program's input is the stack file (its bytes: the loader reads
# which keys it sets), the other committed stack file (the boundary's cross-check), the
# environment and the code; a test that patches the program's code (components/, the SDKs)
# always gets a fresh run. Each caller gets its own deep copy.
_PLANS: dict[str, program.Plan] = {}
_run_program = program.run_program
_current: list[pytest.FixtureRequest] = []
_NOT_THE_PROGRAM = ("sys", "socket", "builtins", "tools", "tests", "subprocess", "shutil")


def _patches_the_program(request: pytest.FixtureRequest) -> bool:
    if "monkeypatch" not in request.fixturenames:
        return False
    patched = request.getfixturevalue("monkeypatch")._setattr  # (object, name, old value)
    for target, _, _ in patched:
        module = (
            target.__name__ if isinstance(target, types.ModuleType) else getattr(target, "__module__", "")
        )
        if str(module).split(".")[0] not in _NOT_THE_PROGRAM:
            return True
    return False


def _plan_key(stack: stackfile.StackFile) -> str | None:
    if not _current or _patches_the_program(_current[-1]):
        return None
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    given = [stack.stack, stack.pulumi_config(), sorted(stack.secret_keys), sorted(env.items())]
    files = [stack.path.read_bytes()] + [p.read_bytes() for p in sorted(REPO_ROOT.glob("Pulumi.*.yaml"))]
    digest = hashlib.sha256(json.dumps(given, sort_keys=True).encode())
    for data in files:
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def _run_program_once(stack: stackfile.StackFile) -> program.Plan:
    key = _plan_key(stack)
    if key is None:
        return _run_program(stack)
    if key not in _PLANS:
        _PLANS[key] = _run_program(stack)
    fresh = copy.deepcopy(_PLANS[key])
    fresh.stack = stack
    return fresh


program.run_program = _run_program_once


@pytest.fixture(autouse=True)
def _plans_for_this_test(request: pytest.FixtureRequest):
    _current.append(request)
    yield
    _current.pop()


@pytest.fixture
def pulumi_mocks():
    """Pulumi's mock monitor with the plan tool's Mocks; fresh root stack per test."""
    mocks = program.make_mocks()
    settings.ROOT.set(None)  # no root stack: set_mocks registers a fresh one (as settings.reset_options does)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="prod", preview=False)
    return mocks


@pytest.fixture
def captured_options(pulumi_mocks) -> dict[str, pulumi.ResourceOptions]:
    """Resource options by logical name (mocks never see protect/import/ignore_changes)."""
    captured: dict[str, pulumi.ResourceOptions] = {}

    def capture(args: pulumi.ResourceTransformationArgs):
        captured[args.name] = args.opts
        return None

    pulumi.runtime.register_stack_transformation(capture)
    return captured


# libyaml's dumper: hundreds of tests write a changed stack file, and the pure-Python one
# took a good part of the suite's time
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@functools.cache
def _committed_doc(stack: str) -> dict[str, Any]:
    name = f"Pulumi.{stack}.yaml"
    return safe_yaml.load((REPO_ROOT / name).read_bytes(), name)  # the plan's own reader


def stack_doc(stack: str) -> dict[str, Any]:
    """A committed stack file as a dict (a fresh copy each call)."""
    return copy.deepcopy(_committed_doc(stack))


def key(name: str) -> str:
    return f"{PROJECT}:{name}"


@pytest.fixture
def write_stack(tmp_path: Path) -> Callable[[str, Callable[[dict], None]], Path]:
    """write_stack("prod", mutate) -> path of a copy of Pulumi.prod.yaml changed by mutate(config)."""

    def write(stack: str, mutate: Callable[[dict], None]) -> Path:
        doc = stack_doc(stack)
        mutate(doc["config"])
        path = tmp_path / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
        return path

    return write


@pytest.fixture
def load_config(write_stack) -> Callable[..., StackConfig]:
    """load_config("prod", mutate=None) -> validated StackConfig of the (changed) stack file."""

    def load(stack: str, mutate: Callable[[dict], None] | None = None) -> StackConfig:
        path = write_stack(stack, mutate or (lambda c: None))
        return stackfile.read_stack(stack, str(path)).config()

    return load


@pytest.fixture
def config_error(write_stack) -> Callable[[str, Callable[[dict], None]], ConfigError]:
    """config_error("prod", mutate) -> the ConfigError the changed stack file raises."""

    def run(stack: str, mutate: Callable[[dict], None]) -> ConfigError:
        path = write_stack(stack, mutate)
        with pytest.raises(ConfigError) as info:
            stackfile.read_stack(stack, str(path)).config()
        return info.value

    return run


@pytest.fixture
def engine_config_error(pulumi_mocks) -> Callable[[dict[str, str]], ConfigError]:
    """engine_config_error(flat) -> the ConfigError the loader raises when the engine hands the
    program this flat ``namespace:key -> string`` config (as under `pulumi up`)."""
    from components.core import config

    def run(flat: dict[str, str]) -> ConfigError:
        pulumi.runtime.set_all_config(flat, [])
        try:
            with pytest.raises(ConfigError) as info:
                config.load_from_pulumi()
        finally:
            pulumi.runtime.set_all_config({}, [])
        return info.value

    return run


@pytest.fixture
def plan(write_stack) -> Callable[..., program.Plan]:
    """plan("prod") or plan("prod", mutate) -> the offline plan of the (changed) stack."""

    def run(stack: str, mutate: Callable[[dict], None] | None = None) -> program.Plan:
        path = None if mutate is None else str(write_stack(stack, mutate))
        return program.plan_stack(stack, path)

    return run


@pytest.fixture(scope="session")
def dns_server(tmp_path_factory):
    """Knot DNS on 127.0.0.1 serving social.coop (prod and alpha, tools.review.zonefile) and the
    stub zones of tests/data/dns; stopped by its PID at the end of the session."""
    from tests.dns_server import Knot, social_coop_zone, stub_zones

    server = Knot(tmp_path_factory.mktemp("knot"), {"social.coop": social_coop_zone(), **stub_zones()})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_zone(dns_server):
    """The server, with social.coop put back as it was after the test (which may reload it)."""
    original = dns_server.zones["social.coop"]
    yield dns_server
    dns_server.load("social.coop", original)


@pytest.fixture
def local_dns_only(monkeypatch):
    """Fail a test that would send anything to an address other than 127.0.0.1."""
    import socket

    def guard(method):
        def wrapped(sock, *args):
            address = args[-1]
            if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1"):
                raise AssertionError(f"network traffic to {address} in a test")
            return method(sock, *args)

        return wrapped

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, guard(getattr(socket.socket, name)))
