"""The test suite's plan cache (tests/conftest.py): a cached plan is the plan a fresh run gives,
each caller gets its own copy, and a test that patches the program's code gets a fresh run."""

from __future__ import annotations

import json

from components.dns import records
from tests import conftest
from tools.review import plan as plan_tool
from tools.review import stackfile


def as_json(p) -> str:
    return json.dumps(plan_tool.to_json(p), default=str, sort_keys=True)


def test_a_cached_plan_is_the_fresh_plan_and_each_caller_gets_a_copy(write_stack):
    path = write_stack(
        "prod",
        lambda c: c["socialcoop-infra:dns"]["records"].update(
            {"cache-test": [{"type": "TXT", "value": "x"}]}
        ),
    )
    sf = stackfile.read_stack("prod", str(path))
    first = conftest._run_program_once(sf)
    assert conftest._plan_key(sf) in conftest._PLANS
    second = conftest._run_program_once(sf)
    assert as_json(first) == as_json(second) == as_json(conftest._run_program(sf))
    second.resources.clear()
    assert as_json(conftest._run_program_once(sf)) == as_json(first)


def test_another_stack_file_is_another_key(write_stack):
    a = stackfile.read_stack("alpha")
    changed = write_stack(
        "alpha", lambda c: c["socialcoop-infra:dns"]["records"].update({"k": [{"type": "TXT", "value": "y"}]})
    )
    b = stackfile.read_stack("alpha", str(changed))
    assert conftest._plan_key(a) != conftest._plan_key(b)
    same = write_stack("alpha", lambda c: None)  # same values, other bytes (the loader reads them)
    assert conftest._plan_key(stackfile.read_stack("alpha", str(same))) not in (
        conftest._plan_key(a),
        conftest._plan_key(b),
    )


def test_patching_the_programs_code_runs_it_fresh(monkeypatch):
    sf = stackfile.read_stack("alpha")
    assert conftest._plan_key(sf) is not None
    monkeypatch.setattr("sys.argv", ["pytest"])  # not the program's code: still cached
    assert conftest._plan_key(sf) is not None
    monkeypatch.setattr(records, "resolve", records.resolve)  # components/: a fresh run
    assert conftest._plan_key(sf) is None
