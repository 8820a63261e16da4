"""Pydantic models of the stack file as written: one module per domain (hosts, dns, mail,
storage) and ``stack`` for the top level. They generate ``schema/stack.schema.json`` (for
editors, ``python -m tools.schema``), and tests keep them, the loader (components/config.py),
Pulumi.yaml and docs/config.md in step."""
