"""Nothing in the cloud moves unless a change means it to: the offline plans of both committed
stacks (and of alpha on Hetzner Cloud) are byte-identical to the recorded ones
(tests/recorded_plans.py; re-record on purpose with `python -m tests.recorded_plans --write`)."""

import pytest

from tests import recorded_plans


@pytest.mark.parametrize("name", list(recorded_plans.CASES))
def test_the_plan_is_the_recorded_one(name):
    now, then = recorded_plans.current(name), recorded_plans.recorded(name)
    for kind in ("json", "tree"):
        assert now[kind] == then[kind], (
            f"the {name} plan ({kind}) differs from tests/data/plans/: if the change is intended, "
            "re-record it with `python -m tests.recorded_plans --write` and let the merge request show it"
        )
