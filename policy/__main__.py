"""social.coop's policy pack: the rules in rules.py, enforced (mandatory) on every preview and up.

Started by the Pulumi CLI in this folder (engine/pulumi-analyzer-policy-python, docs/engine.md).
The stack's own config reaches the pack as $PULUMI_CONFIG (JSON); prod's bucket names come from
the committed Pulumi.prod.yaml beside this folder, so alpha can be checked against them.
"""

import json
import os
from pathlib import Path

import yaml
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy
from rules import RULES, Res, Stack, facts


def stack_facts() -> Stack:
    prod = (Path(__file__).resolve().parent.parent / "Pulumi.prod.yaml").read_text()
    return facts(json.loads(os.environ.get("PULUMI_CONFIG") or "{}"), yaml.safe_load(prod))


STACK = stack_facts()


def _policy(name: str, check, description: str) -> ResourceValidationPolicy:
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

    return ResourceValidationPolicy(name=name, description=description, validate=validate)


PolicyPack(
    name="socialcoop-guard-rails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[_policy(name, check, desc) for name, (check, desc) in RULES.items()],
)
