"""social.coop's policy pack: the rules in rules.py, enforced on every preview and up.

Started by the Pulumi CLI in this folder (engine/pulumi-analyzer-policy-python, docs/engine.md).
How the pack learns which stack it guards depends on how the CLI starts it (pulumi 3.260,
sdk/go/common/resource/plugin/analyzer_plugin.go): through the analyzer shim it gets the stack's
name as $PULUMI_STACK and its config as $PULUMI_CONFIG (JSON); through a Python language host
(the official CLI's) it gets neither, and pulumi_policy 1.21 keeps only the tags of the
ConfigureStack call. So the stack's name falls back to the one in each resource's URN
(`urn:pulumi:<stack>::...`) and its config to the committed Pulumi.<stack>.yaml (plain values;
the pack needs no secret). The boundary between the stacks, and what the other stack's
committed file declares, come from components/core/boundary.py, as for the loader.

CI passes `--policy-pack policy` to every `pulumi preview` and `pulumi up`; `pulumi destroy`
takes no policy pack (pulumi 3.260), so destroy:alpha first runs the pack in a preview and the
same rules over the state it would delete (tools/pipeline/policy_state.py, docs/ci.md).
"""

import functools
import json
import os
import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repository: components/

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy  # noqa: E402
from rules import RULES, Res, Stack, committed_config, facts, stack_of_urn  # noqa: E402

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


@functools.cache
def stack_facts(urn_stack: str) -> Stack:
    """The facts of the stack being previewed: from the engine's environment when it sets it,
    else from the URN's stack name and that stack's committed file."""
    stack = os.environ.get("PULUMI_STACK") or urn_stack
    given = os.environ.get("PULUMI_CONFIG")
    return facts(json.loads(given) if given else committed_config(stack), stack)


def _policy(name: str, check, description: str, level: str) -> ResourceValidationPolicy:
    def validate(args, report_violation):
        opts = args.opts
        res = Res(
            type=args.resource_type,
            name=args.name,
            props=args.props,  # read lazily: a value unknown during preview raises only if a rule reads it
            protect=bool(opts.protect),
            ignore_changes=tuple(opts.ignore_changes or ()),
        )
        for message in check(res, stack_facts(stack_of_urn(str(getattr(args, "urn", "") or "")))):
            report_violation(message)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=LEVELS[level]
    )


PolicyPack(
    name="socialcoop-guard-rails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[_policy(name, *rule) for name, rule in RULES.items()],
)
