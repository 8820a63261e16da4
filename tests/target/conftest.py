"""A real machine for tests: a throwaway Debian 12 booted with its own systemd (docs/servers.md).

``target_image`` builds (once, cached) and unpacks the root filesystem of build_image.sh.
``boot_target`` boots a copy: an overlay on the unpacked tree, a network namespace the test
creates (loopback only, optionally a veth link to a second "outside" namespace), its own host
name (nspawn gives the container its own UTS namespace, so the bootstrap's `hostname` call
cannot rename the machine running the tests), fresh SSH host keys, then
``systemd-nspawn --boot``. Teardown stops nspawn by its PID, unmounts, deletes the namespaces.

Everything listens inside the namespaces: nothing is reachable from, or sent to, any other
address.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pytest

HERE = Path(__file__).parent
# inside the target's namespace (target side of the veth) and the outside namespace
TARGET_V4, OUTSIDE_V4 = "192.0.2.10", "192.0.2.20"
TARGET_V6, OUTSIDE_V6 = "2001:db8::10", "2001:db8::20"


def run(*cmd: str, check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="session")
def target_image() -> Path:
    """The unpacked image tree (read-only lower layer), built and unpacked once per key."""
    for tool in ("mmdebstrap", "systemd-nspawn", "ssh", "zstd", "ip"):
        assert shutil.which(tool), f"{tool} missing: run `make test-target` (tools/system-packages.sh target)"
    start = time.monotonic()
    archive = Path(run("bash", str(HERE / "build_image.sh"), timeout=1800).stdout.strip().splitlines()[-1])
    tree = archive.with_suffix("").with_suffix("")  # .../debian12-KEY
    if not (tree / ".complete").exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        run("tar", "--zstd", "-xpf", str(archive), "-C", str(tree), "--numeric-owner", timeout=600)
        (tree / ".complete").touch()
    print(f"target image ready in {time.monotonic() - start:.1f} s: {tree}")
    return tree


@dataclass
class Target:
    """One booted throwaway machine."""

    root: Path  # the merged overlay: the machine's / (write here only before boot)
    netns: str
    client_key: Path  # private key the tests log in with (root's authorized key before hardening)
    host_key: str = ""  # the pinned public host key line (ssh-ed25519 AAAA...)
    outside: str | None = None  # the second namespace, linked by veth, when asked for
    proc: subprocess.Popen | None = None
    known_hosts: Path = field(default=Path())
    log: TextIO | None = None  # nspawn's output (closed at teardown)

    @property
    def booted(self) -> subprocess.Popen:
        """The systemd-nspawn process of a booted machine."""
        assert self.proc is not None, "the target has not been booted"
        return self.proc

    def leader(self) -> int:
        """PID of the container's systemd (the nspawn process's child)."""
        pid = self.booted.pid
        for _ in range(100):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            if children:
                return int(children[0])
            time.sleep(0.1)
        raise AssertionError("systemd-nspawn started no container")

    def sh(self, script: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a shell script inside the machine as its root (nsenter, not SSH)."""
        cmd = [
            "nsenter",
            "-t",
            str(self.leader()),
            "-m",
            "-u",
            "-i",
            "-n",
            "-p",
            "--",
            "/bin/sh",
            "-c",
            script,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"in target: {script}\nrc={result.returncode}\n{result.stdout}{result.stderr}"
            )
        return result

    def wait_for_boot(self, deadline: float = 900) -> str:
        """Wait until systemd has finished booting (cloud-init's stages are part of it)."""
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            state = self.sh(
                "systemctl is-system-running --wait", check=False, timeout=deadline
            ).stdout.strip()
            if state not in ("", "offline", "initializing", "starting"):  # offline: its bus is not up yet
                return state
            time.sleep(0.5)
        raise AssertionError(f"boot not finished after {deadline} s")

    def ssh_argv(self, user: str, port: int = 22, known_hosts: Path | None = None) -> list[str]:
        return [
            "ip", "netns", "exec", self.netns,
            "ssh", "-F", "/dev/null", "-i", str(self.client_key), "-p", str(port),
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "HostKeyAlias=target",
            "-o", f"UserKnownHostsFile={known_hosts or self.known_hosts}", "-o", "ConnectTimeout=10",
            "-o", "IdentitiesOnly=yes", f"{user}@127.0.0.1",
        ]  # fmt: skip

    def ssh(self, user: str, command: str, port: int = 22, check: bool = True, timeout: float = 300):
        result = subprocess.run(
            [*self.ssh_argv(user, port), command], capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"ssh {user}: {command}\nrc={result.returncode}\n{result.stdout}{result.stderr}"
            )
        return result

    def scp(self, user: str, src: Path, dest: str, port: int = 22) -> None:
        argv = self.ssh_argv(user, port)
        ssh_opts = argv[argv.index("ssh") + 1 : -1]
        subprocess.run(
            ["ip", "netns", "exec", self.netns, "scp", *ssh_opts[:4], "-P", str(port), *ssh_opts[6:],
             str(src), f"{user}@127.0.0.1:{dest}"],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def wait_for_ssh(self, user: str = "root", port: int = 22, deadline: float = 90) -> float:
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            assert self.booted.poll() is None, "the target stopped while booting"
            if self.ssh(user, "true", port=port, check=False, timeout=15).returncode == 0:
                return time.monotonic() - start
            time.sleep(0.5)
        raise AssertionError(f"no ssh as {user} on port {port} after {deadline} s")

    def pin(self, host_key: str, path: Path) -> Path:
        path.write_text(f"target {host_key}\n")
        return path


@pytest.fixture
def boot_target(target_image, tmp_path):
    """Factory: boot_target(prepare=None, outside=False) -> a booted Target.

    ``prepare(root)`` edits the machine's tree before boot (seed, disable cloud-init...).
    With ``cloud_init=False`` (the default) cloud-init is disabled and the fixture makes the
    host keys and lets the test's key log in as root; with ``cloud_init=True`` cloud-init
    makes the host keys at boot and the test reads them from the tree afterwards.
    """
    started: list[tuple[Target, Path]] = []

    def boot(prepare=None, outside: bool = False, cloud_init: bool = False) -> Target:
        base = tmp_path / f"t{len(started)}"
        upper, work, merged = base / "upper", base / "work", base / "merged"
        for d in (upper, work, merged):
            d.mkdir(parents=True)
        run("mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={target_image},upperdir={upper},workdir={work}", str(merged))  # fmt: skip
        name = "sc-" + secrets.token_hex(4)
        t = Target(root=merged, netns=name, client_key=base / "client_key")
        started.append((t, base))
        run("ip", "netns", "add", name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        if outside:
            t.outside = name + "-out"
            run("ip", "netns", "add", t.outside)
            run("ip", "-n", t.outside, "link", "set", "lo", "up")
            run("ip", "link", "add", "veth-" + name[3:], "netns", name, "type", "veth",
                "peer", "name", "veth-o" + name[3:], "netns", t.outside)  # fmt: skip
            for ns, dev, v4, v6 in ((name, "veth-" + name[3:], TARGET_V4, TARGET_V6),
                                    (t.outside, "veth-o" + name[3:], OUTSIDE_V4, OUTSIDE_V6)):  # fmt: skip
                run("ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", dev)
                run("ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", dev, "nodad")
                run("ip", "-n", ns, "link", "set", dev, "up")
            # a default route into the outside namespace, which forwards nothing further
            run("ip", "-n", name, "route", "add", "default", "via", OUTSIDE_V4)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tests", "-f", str(t.client_key))
        if cloud_init:
            (merged / "etc/cloud/cloud-init.disabled").unlink(missing_ok=True)
        else:
            (merged / "etc/cloud/cloud-init.disabled").touch()
            key = merged / "etc/ssh/ssh_host_ed25519_key"
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@target", "-f", str(key))
            t.host_key = " ".join(key.with_suffix(".pub").read_text().split()[:2])
            ssh_dir = merged / "root/.ssh"
            ssh_dir.mkdir(mode=0o700, exist_ok=True)
            (ssh_dir / "authorized_keys").write_text(Path(f"{t.client_key}.pub").read_text())
            (ssh_dir / "authorized_keys").chmod(0o600)
        if prepare:
            prepare(merged)
        t.known_hosts = base / "known_hosts"
        if t.host_key:
            t.pin(t.host_key, t.known_hosts)
        log = open(base / "nspawn.log", "w")  # noqa: SIM115 (closed at teardown)
        t.proc = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", str(merged), "-b", "--register=no", "--keep-unit",
             f"--machine={name}", f"--network-namespace-path=/run/netns/{name}", "--console=pipe",
             "--capability=CAP_NET_ADMIN"],  # its own netns: firewall and fail2ban need it
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        t.log = log
        return t

    yield boot

    for t, base in reversed(started):
        if t.proc is not None and t.proc.poll() is not None:  # it stopped by itself: show why
            print(f"target {t.netns} exited early ({t.proc.returncode}):")
            print("".join((base / "nspawn.log").read_text().splitlines(keepends=True)[-40:]))
        if t.proc is not None and t.proc.poll() is None:
            t.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to power off
            try:
                t.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(t.proc.pid, signal.SIGKILL)
                t.proc.wait(timeout=10)
        if t.log is not None:
            t.log.close()
        with contextlib.suppress(subprocess.CalledProcessError):
            run("umount", str(t.root))
        for ns in (t.netns, t.outside):
            if ns:
                run("ip", "netns", "del", ns, check=False)
