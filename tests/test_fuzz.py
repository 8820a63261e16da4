"""A seeded mutation loop over the committed stack files, as a careless or hurried volunteer
would edit them: keys deleted, renamed or retyped, values swapped for other types, secrets
pasted in the wrong place, bytes flipped or cut. Every one of the thousands of variants must
end in a loaded config or one clean ConfigError line: never a traceback, a hang or a secret
in the message. The seed is fixed, so a failure names a case that can be replayed.
The unit suite runs a few cases of every family; the full loop (marker ``fuzz``) runs in
``make test-integration``.

Four families also know the verdict (issue 22), for any value anywhere under the project's
keys, and check it for the plan's reading and for the engine's (values as the Pulumi CLI
hands them over):
- control: a control character or line break (with junk after it) put into a text value
  must be refused;
- retype: a value replaced by one of another type, or a text by "", must be refused, never
  read as "not set" and planned as the default;
- spelling: an unquoted spelling that YAML 1.1 and yaml.v3 (the Pulumi CLI's reader) may
  read differently must be read as yaml.v3 reads it (tests/test_safe_yaml.py's table, taken
  from yaml.v3's source) or refused;
- huge: a number of thousands of digits, or tens of thousands of characters, must be refused.
"""

from __future__ import annotations

import copy
import random
import time

import pytest
import yaml

from components.core.config import PROJECT, ConfigError, decode, parse
from tests.conftest import DUMPER, stack_doc
from tests.test_safe_yaml import V3
from tools.review import stackfile

PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAA\n-----END OPENSSH PRIVATE KEY-----"
TOKEN = "cfFAKEtoken0123456789abcdefABCDEFghijklmnopQRSTUV"
LEAKS = ("b3BlbnNzaC1rZXkt", TOKEN[5:])
VALUES = [
    None, True, False, 0, -1, 65536, 10**30, 1.5, "", " ", "yes", "true", "none", "x" * 300,
    "203.0.113.300", "10.0.0.1", "::1", "2001:db8::1%eth0", "@", "*", "a..b", "w\u0131ki", "a\rb",
    "\x1b[31m", "\u202e", "\u2028", [], [1, 2], {}, {"a": 1}, {"secure": "v1:AAAA="}, PRIVATE_KEY,
    TOKEN, "9" * 5000, "ssh-rsa AAAAB3NzaC1yc2E", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
]  # fmt: skip
KEYS = ["import", "protect", "hcloud:token", "bootstrap_ssh_kye", "api_token", "ssh_key", "<<", "ttl"]
CASES_PER_STACK = 1000
PARTS = 4
# the families in turn; "structure" and "bytes" only have to end cleanly
FAMILIES = ("structure", "bytes", "structure", "control", "retype", "spelling", "huge")
CONTROL = ["\n", "\r", "\x00", "\x1b[31m", "\t", "\x7f", "\x85", "\u2028", "\u202e", "\r\n"]
JUNK = ["", "x", "admin mallory ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA", "file /etc/sudoers.d/0 0440 - eA=="]
OTHER_TYPE = {  # never the text Pulumi writes for a scalar ("300", "true"): those are the value
    str: [[], {}, 0, 1.5, True, False, ""],
    bool: ["", [], {}, 0, 1, "yes", "no"],
    int: ["", [], {}, True, 1.5, "x"],
    list: ["", 0, True, "x"],
    dict: ["", [], 0, True],
}
MARKER = "@@fuzz@@"
HUGE = ["9" * 5000, "0x" + "f" * 5000, "1" + ":1" * 10000, "-" + "1" * 5000 + ".5", "y" * 10_000]


def _containers(value, out):
    if isinstance(value, (dict, list)):
        out.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            _containers(child, out)
    return out


def mutate_doc(rng: random.Random, doc: dict) -> None:
    """One to three structural edits somewhere in the document."""
    for _ in range(rng.randint(1, 3)):
        target = rng.choice(_containers(doc["config"], []))
        if isinstance(target, list):
            if not target:
                target.append(copy.deepcopy(rng.choice(VALUES)))
                continue
            i = rng.randrange(len(target))
            op = rng.choice(("set", "delete", "duplicate"))
            if op == "set":
                target[i] = copy.deepcopy(rng.choice(VALUES))
            elif op == "delete":
                del target[i]
            else:
                target.append(copy.deepcopy(target[i]))
            continue
        if not target:
            target[rng.choice(KEYS)] = copy.deepcopy(rng.choice(VALUES))
            continue
        k = rng.choice(list(target))
        op = rng.choice(("set", "set", "delete", "rename", "add"))
        if op == "set":
            target[k] = copy.deepcopy(rng.choice(VALUES))
        elif op == "delete":
            del target[k]
        elif op == "rename":
            target[k + rng.choice(("s", "_", "X", ""))[:1] or k[:-1]] = target.pop(k)
        else:
            target[rng.choice(KEYS)] = copy.deepcopy(rng.choice(VALUES))


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """A few byte-level accidents: a cut, a flipped byte, pasted junk."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(buf))
        op = rng.choice(("cut", "flip", "insert"))
        if op == "cut":
            del buf[i : i + rng.randint(1, 40)]
        elif op == "flip":
            buf[i] = rng.randrange(256)
        else:
            buf[i:i] = rng.choice(
                [b"\t", b"\xff", b"&a ", b"*a", b": ", b"- ", b"{", b"]", b"!!binary ", b"<<: "]
            )
    return bytes(buf)


# --------------------------------------------------------------------------- families with an oracle


def project_paths(config: dict) -> list[tuple]:
    """The path (keys from ``config:``) of every value under the project's keys, at any depth."""
    out = []

    def walk(path: tuple, value) -> None:
        out.append(path)
        children = (
            value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        )
        for k, v in children:
            walk((*path, k), v)

    for k, v in config.items():
        if k.startswith(f"{PROJECT}:"):
            walk((k,), v)
    return out


def at(value, path: tuple):
    for k in path:
        value = value[k]
    return value


def mutate_oracle(rng: random.Random, family: str, doc: dict) -> tuple[bytes, tuple, str | None]:
    """One edit of ``family`` at a random value: the file's bytes, the value's path and, for
    ``spelling``, the spelling written there."""
    config = doc["config"]
    scalars = (str, int, bool)
    of_family: dict[str, type | tuple[type, ...]] = {"control": str, "spelling": scalars, "huge": scalars}
    kinds = of_family.get(family, object)
    path = rng.choice([p for p in project_paths(config) if isinstance(at(config, p), kinds)])
    old, parent, spelling = at(config, path), at(config, path[:-1]), None
    if family == "control":
        i = rng.randint(0, len(old))
        parent[path[-1]] = old[:i] + rng.choice(CONTROL) + rng.choice(JUNK) + old[i:]
    elif family == "retype":
        parent[path[-1]] = copy.deepcopy(rng.choice(OTHER_TYPE[type(old)]))
    else:
        parent[path[-1]] = MARKER
    text = yaml.dump(doc, Dumper=DUMPER, sort_keys=False, allow_unicode=rng.random() < 0.5)
    if family in ("spelling", "huge"):  # written unquoted, as a person types it
        assert text.count(f"'{MARKER}'") == 1, text
        spelling = rng.choice(V3)[0] if family == "spelling" else rng.choice(HUGE)
        text = text.replace(f"'{MARKER}'", spelling)
    return text.encode(), path, spelling


def check_verdict(where: str, family: str, path: tuple, spelling, plan, engine, values) -> None:
    """The verdict ``family`` must reach (see the module docstring)."""
    if family in ("control", "retype", "huge"):
        assert plan is not None, f"{where}: the plan accepts it"
        assert engine is not None, f"{where}: the loader under pulumi accepts it"
        return
    expected = dict(V3)[spelling]
    if values is None:  # the reader refused the file
        assert expected == "refused", f"{where}: refused, but yaml.v3 reads {spelling!r} as {expected!r}"
        return
    read = at(values, (path[0].removeprefix(f"{PROJECT}:"), *path[1:]))
    assert expected != "refused", f"{where}: read as {read!r}; the plan must refuse it"
    assert read == expected and type(read) is type(expected), (
        f"{where}: read as {read!r}, yaml.v3: {expected!r}"
    )


# --------------------------------------------------------------------------- the loop


LIBRARY_WORDS = ("Input should", "Value error", "validation error", "pydantic", "Field required")


def run_case(tmp_path, stack: str, data: bytes) -> tuple[str | None, str | None, dict | None]:
    """The loader's verdicts on one file: the plan's and the engine's (None when it loads, else
    the error line) and the values read (None when the file could not be read). The file is
    read as the plan tool reads it and, when that works, its values are also handed to the
    loader as the Pulumi engine hands them (scalars as text, structured values as JSON), with
    the keys the file sets, as the loader reads them from the stack file under `pulumi preview`."""
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_bytes(data)
    try:
        sf = stackfile.read_stack(stack, str(path))
    except ConfigError as e:
        return str(e), str(e), None
    plan: str | None = None
    try:
        sf.config()
    except ConfigError as e:
        plan = str(e)
    engine = {
        k.removeprefix(f"{PROJECT}:"): decode(v)
        for k, v in sf.pulumi_config().items()
        if k.startswith(PROJECT)
    }
    try:
        parse(engine, sf.source, sf.secret_keys, stack, sf.present)
    except ConfigError as e:
        return plan, str(e), sf.values
    return plan, None, sf.values


def run_cases(tmp_path, stack: str, seed: str, cases: range) -> dict[str, int]:
    """Mutate the committed stack file once per case (the families in turn, from ``seed``) and
    check each one ends as it must; the outcomes counted by family, and loaded/refused."""
    rng = random.Random(seed)
    original = stack_doc(stack)
    text = (stackfile.REPO_ROOT / f"Pulumi.{stack}.yaml").read_bytes()
    outcomes = {"loaded": 0, "refused": 0} | {f: 0 for f in FAMILIES}
    slowest = 0.0
    for case in cases:
        family = FAMILIES[case % len(FAMILIES)]
        doc = copy.deepcopy(original)
        path, spelling = (), None
        if family == "bytes":
            data = mutate_bytes(rng, text)
        elif family == "structure":
            mutate_doc(rng, doc)
            data = yaml.dump(doc, Dumper=DUMPER, sort_keys=False, allow_unicode=rng.random() < 0.5).encode()
        else:
            data, path, spelling = mutate_oracle(rng, family, doc)
        t = time.process_time()
        try:
            plan, engine, values = run_case(tmp_path, stack, data)
        except Exception as e:  # anything but ConfigError is a traceback for the user
            pytest.fail(f"case {case}: {type(e).__name__}: {e}\n{data[:2000]!r}")
        slowest = max(slowest, time.process_time() - t)
        if family not in ("structure", "bytes"):
            where = f"case {case}: {family} at {'.'.join(map(str, path))} ({spelling!r:.40})"
            check_verdict(where, family, path, spelling, plan, engine, values)
        for message in {m for m in (plan, engine) if m is not None}:
            assert "\n" not in message and "\r" not in message, f"case {case}: {message!r}"
            assert not any(leak in message for leak in LEAKS), f"case {case} shows a secret: {message}"
            # our words, never the validation library's (config.WORDS maps each of its checks)
            assert not any(w in message for w in LIBRARY_WORDS), f"case {case}: {message}"
            assert len(message) < 2000, f"case {case}: a message of {len(message)} characters"
        outcomes["refused" if plan or engine else "loaded"] += 1
        outcomes[family] += 1
    assert slowest < 1.0, f"one case took {slowest:.2f} s of CPU"
    return outcomes


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_every_mutation_family_ends_as_it_must(tmp_path, stack):
    """In the unit suite: a few cases of every family (the full loop is the next test's)."""
    outcomes = run_cases(tmp_path, stack, f"issue-22-quick-{stack}", range(len(FAMILIES) * 6))
    assert all(outcomes[f] for f in FAMILIES) and outcomes["refused"] > len(FAMILIES) * 3, outcomes


@pytest.mark.fuzz
@pytest.mark.parametrize("part", range(PARTS))
@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_mutated_stack_files_end_cleanly(tmp_path, stack, part):
    """CASES_PER_STACK cases a stack, in PARTS seeded parts (so `pytest -n` spreads them)."""
    cases = CASES_PER_STACK // PARTS
    start = time.perf_counter()
    outcomes = run_cases(tmp_path, stack, f"issue-22-{stack}-{part}", range(part * cases, (part + 1) * cases))
    assert time.perf_counter() - start < 60
    # the mutations reach both ends: some variants still load, most are refused
    assert outcomes["loaded"] > 2 and outcomes["refused"] > cases / 2, outcomes
