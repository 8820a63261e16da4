"""How every child resource is protected, in one place.

prod (``protect: true``): stateful or traffic-serving resources get Pulumi ``protect`` and
every imported resource gets ``retain_on_delete``, so a careless ``pulumi destroy``, a
rename or a removed line never deletes the real thing. alpha (``protect: false``) gets
none of this, so it can be torn down completely.
"""

from __future__ import annotations

import pulumi


def child_opts(
    protect: bool,
    parent: pulumi.Resource,
    *,
    stateful: bool,
    import_id: str | None = None,
    **extra,
) -> pulumi.ResourceOptions:
    """Options for a component's child: parent, protection, adoption."""
    return pulumi.ResourceOptions(
        parent=parent,
        protect=protect and stateful,
        retain_on_delete=protect and import_id is not None,
        import_=import_id,
        **extra,
    )
