"""How every child resource is protected and adopted, in one place.

prod (``protect: true``): stateful or traffic-serving resources get Pulumi ``protect`` and
every imported resource gets ``retain_on_delete``, so a careless ``pulumi destroy``, a
rename or a removed line never deletes the real thing. alpha (``protect: false``) gets
none of this, so it can be torn down completely.

Adoption in two phases (docs/adoption.md). While ``adopting: true``, each imported
resource also ignores its *convergeable* properties (``adopt_ignore``: names, labels,
protection flags, TTLs..., which the component lists next to the resource): the import
takes their real values, so the first ``pulumi up`` only imports and changes nothing.
With ``adopting: false`` the next preview shows them as in-place updates (``~``) that bring
reality to what the program says, reviewed like any change. Never list a property whose
change replaces the resource (a record's name/type/content, a server's location): those
must match at import time, or the replacement would come in phase 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.core.stack import StackConfig


@dataclass(frozen=True)
class Protection:
    """The stack's protection policy, handed to every component."""

    protect: bool  # Pulumi protect, Hetzner delete protection, retain imported resources
    adopting: bool = False  # phase 1 of adoption: imported resources keep their real settings

    @classmethod
    def of(cls, cfg: StackConfig) -> Protection:
        return cls(protect=cfg.protect, adopting=cfg.adopting)


def child_opts(
    policy: Protection,
    parent: pulumi.Resource | None,
    *,
    stateful: bool,
    import_id: str | None = None,
    adopt_ignore: Sequence[str] = (),
    retiring: bool = False,
    **extra,
) -> pulumi.ResourceOptions:
    """Options for a component's child (``parent``: the component; None in the unit tests of
    these options): parent, protection, adoption.

    ``adopt_ignore``: the resource's convergeable properties (Pulumi names, camelCase),
    added to any ``ignore_changes`` only while adopting and only when it is imported.
    ``retiring``: its provider is being let go (``dns.retiring``): not protected, retained on
    delete, so that the next change, which drops the provider, forgets it in the state and
    leaves it in the cloud (the engine refuses to delete a protected resource even when it is
    retained: pulumi 3.260 pkg/resource/deploy/step.go, DeleteStep.Apply).
    """
    ignore = list(extra.pop("ignore_changes", None) or [])
    if policy.adopting and import_id is not None:
        ignore += [p for p in adopt_ignore if p not in ignore]
    return pulumi.ResourceOptions(
        parent=parent,
        protect=policy.protect and stateful and not retiring,
        retain_on_delete=(policy.protect and import_id is not None) or retiring,
        import_=import_id,
        ignore_changes=ignore or None,
        **extra,
    )
