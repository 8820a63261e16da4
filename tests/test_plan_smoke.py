import pytest


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_committed_stacks_plan(plan, stack):
    result = plan(stack)
    assert result.outputs["environment"] == stack
    assert result.invokes == []
