"""docs/migration.md tells the truth: every step of the runbook, applied to the committed prod stack
file one after the other, gives exactly the `tools.plan --diff` output the page shows for it
(operations, keys, old => new, notes), and the same edit while prod is still adopting shows as
`not applied while adopting`. Planned in this process (tools/review/diff_sides.py), a few
tenths of a second a step once the program is imported."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import yaml

from components.core.errors import REPO_ROOT
from tests.conftest import DUMPER, key, stack_doc
from tools.review import diff_sides
from tools.review.diff import compare
from tools.review.diff_text import render_text

DOC = REPO_ROOT / "docs" / "migration.md"
BLOCK = re.compile(r"<!-- tools\.plan --diff: ([a-z0-9-]+) -->\n```text\n(.*?)```\n", re.DOTALL)


def phase2(c: dict) -> None:
    c[key("adopting")] = False


def lower_ttl(c: dict) -> None:
    c[key("migration")] = {"ttl": 300, "records": ["@ A", "@ AAAA"]}


def switch(c: dict) -> None:
    for record in c[key("dns")]["records"]["@"]:
        if record.get("host") == "rhizome":
            record["host"] = "pando"


def raise_ttl(c: dict) -> None:
    c.pop(key("migration"))


def retire(c: dict) -> None:
    c[key("dns")]["records"].pop("rhizome")
    c[key("hosts")].pop("rhizome")
    for name in ("rhizome-a", "rhizome-aaaa", "rhizome-txt-spf"):
        c[key("dns")]["imports"].pop(name)


# name in docs/migration.md -> (the step it starts from, the edit); "committed" is Pulumi.prod.yaml
STEPS: dict[str, tuple[str, Callable[[dict], None]]] = {
    "step-1-while-adopting": ("committed", lower_ttl),
    "adoption-finished": ("committed", phase2),
    "step-1": ("adoption-finished", lower_ttl),
    "step-4": ("step-1", switch),
    "step-6": ("step-4", raise_ttl),
    "step-7": ("step-6", retire),
}


def shown(text: str) -> str:
    """The output as the page shows it: without the first line (it names the two sides, which
    differ from run to run) and the list of resources whose options alone change, and with
    "(N unchanged)": the count moves with every record added elsewhere, the steps do not."""
    lines = text.split("\n")[1:]
    lines[0] = re.sub(r"\(\d+ unchanged\)$", "(N unchanged)", lines[0])
    out, skipping = [], False
    for line in lines:
        if line.startswith("Nothing changes in the cloud"):
            skipping = True
        elif skipping and not line.startswith("  "):
            skipping = False
        if not skipping:
            out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("runbook")
    docs = {"committed": stack_doc("prod")}
    sides = {}

    def side(name: str):
        if name not in sides:
            path = folder / f"{name}.yaml"
            path.write_text(yaml.dump(docs[name], Dumper=DUMPER, sort_keys=False))
            sides[name] = diff_sides.plan_in_process("prod", str(path), name)
        return sides[name]

    out = {}
    for name, (start, edit) in STEPS.items():
        doc = yaml.safe_load(yaml.dump(docs[start], Dumper=DUMPER))
        edit(doc["config"])
        docs[name] = doc
        out[name] = shown(render_text(compare("prod", start, side(start), side(name))))
    return out


def documented() -> dict[str, str]:
    return {name: block for name, block in BLOCK.findall(DOC.read_text())}


def test_every_step_has_its_expected_diff_in_the_page():
    assert sorted(documented()) == sorted(STEPS), "docs/migration.md: one `tools.plan --diff` block per step"


@pytest.mark.parametrize("step", list(STEPS))
def test_the_step_gives_the_diff_the_page_shows(outputs, step):
    assert outputs[step] == documented()[step], (
        f"docs/migration.md, block {step!r}, no longer matches `tools.plan prod --diff` for that step; "
        f"the output now:\n{outputs[step]}"
    )


def test_while_adopting_the_ttl_is_not_applied_and_after_adoption_it_is(outputs):
    assert "2 not applied while adopting" in outputs["step-1-while-adopting"]
    assert "not applied while adopting" not in outputs["step-1"]
    assert outputs["step-1"].count("~ ttl: 3600 => 300") == 2


def test_the_switch_changes_only_the_two_apex_contents(outputs):
    text = outputs["step-4"]
    assert text.startswith("prod: 0 to create, 2 to update, 0 to replace, 0 to delete")
    assert re.findall(r"~ (\w+):", text) == ["content", "content"]
