"""social.coop's policy pack: the rules in rules.py, enforced on every preview and up.

Started by the Pulumi CLI in this folder (engine/pulumi-analyzer-policy-python, docs/engine.md).
The stack's name reaches the pack as $PULUMI_STACK and its config as $PULUMI_CONFIG (JSON); the
boundary between the stacks, and what the other stack's committed file declares, come from
components/core/boundary.py in the repository above this folder, as for the loader.

CI passes `--policy-pack policy` to every `pulumi preview` and `pulumi up`; `pulumi destroy`
takes no policy pack (pulumi 3.260), so destroy:alpha first runs the pack in a preview and the
same rules over the state it would delete (tools/pipeline/policy_state.py, docs/ci.md).
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repository: components/

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy  # noqa: E402
from rules import RULES, Res, facts  # noqa: E402

STACK = facts(json.loads(os.environ.get("PULUMI_CONFIG") or "{}"), os.environ.get("PULUMI_STACK"))
LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


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
        for message in check(res, STACK):
            report_violation(message)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=LEVELS[level]
    )


PolicyPack(
    name="socialcoop-guard-rails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[_policy(name, *rule) for name, rule in RULES.items()],
)
