"""A seeded mutation loop over the committed stack files, as a careless or hurried volunteer
would edit them: keys deleted, renamed or retyped, values swapped for other types, secrets
pasted in the wrong place, bytes flipped or cut. Every one of the thousands of variants must
end in a loaded config or one clean ConfigError line: never a traceback, a hang or a secret
in the message. The seed is fixed, so a failure names a case that can be replayed."""

from __future__ import annotations

import copy
import random
import time

import pytest
import yaml

from components.config import PROJECT, ConfigError, decode, parse
from tests.conftest import DUMPER, stack_doc
from tools import plan as plan_tool

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
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(data))
        op = rng.choice(("cut", "flip", "insert"))
        if op == "cut":
            del data[i : i + rng.randint(1, 40)]
        elif op == "flip":
            data[i] = rng.randrange(256)
        else:
            data[i:i] = rng.choice(
                [b"\t", b"\xff", b"&a ", b"*a", b": ", b"- ", b"{", b"]", b"!!binary ", b"<<: "]
            )
    return bytes(data)


LIBRARY_WORDS = ("Input should", "Value error", "validation error", "pydantic", "Field required")


def run_case(tmp_path, stack: str, data: bytes) -> str | None:
    """The loader's verdict on one file: None when it loads, else the error line. The file is
    read as the plan tool reads it and, when that works, its values are also handed to the
    loader as the Pulumi engine hands them (scalars as text, structured values as JSON)."""
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_bytes(data)
    try:
        sf = plan_tool.read_stack(stack, str(path))
    except ConfigError as e:
        return str(e)
    try:
        sf.config()
    except ConfigError as e:
        first = str(e)
    else:
        first = None
    engine = {
        k.removeprefix(f"{PROJECT}:"): decode(v)
        for k, v in sf.pulumi_config().items()
        if k.startswith(PROJECT)
    }
    try:
        parse(engine, sf.source, sf.secret_keys, stack)
    except ConfigError as e:
        return first or str(e)
    return first


@pytest.mark.fuzz
@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_mutated_stack_files_end_cleanly(tmp_path, stack):
    rng = random.Random(f"issue-15-{stack}")
    original = stack_doc(stack)
    text = (plan_tool.REPO_ROOT / f"Pulumi.{stack}.yaml").read_bytes()
    outcomes = {"loaded": 0, "refused": 0}
    slowest = 0.0
    start = time.perf_counter()
    for case in range(CASES_PER_STACK):
        if case % 3 == 2:
            data = mutate_bytes(rng, text)
        else:
            doc = copy.deepcopy(original)
            mutate_doc(rng, doc)
            data = yaml.dump(doc, Dumper=DUMPER, sort_keys=False, allow_unicode=rng.random() < 0.5).encode()
        t = time.process_time()
        try:
            message = run_case(tmp_path, stack, data)
        except Exception as e:  # anything but ConfigError is a traceback for the user
            pytest.fail(f"case {case}: {type(e).__name__}: {e}\n{data[:2000]!r}")
        slowest = max(slowest, time.process_time() - t)
        if message is None:
            outcomes["loaded"] += 1
            continue
        outcomes["refused"] += 1
        assert "\n" not in message and "\r" not in message, f"case {case}: {message!r}"
        assert not any(leak in message for leak in LEAKS), f"case {case} shows a secret: {message}"
        # our words, never the validation library's (config.WORDS maps each of its checks)
        assert not any(w in message for w in LIBRARY_WORDS), f"case {case}: {message}"
    assert slowest < 1.0, f"one case took {slowest:.2f} s of CPU"
    assert time.perf_counter() - start < 60
    # the mutations reach both ends: some variants still load, most are refused
    assert outcomes["loaded"] > 20 and outcomes["refused"] > CASES_PER_STACK / 2, outcomes
