"""A stand-in `pulumi-language-python` for the pipeline tests: NOT Pulumi's language host.

Pulumi's Python language host is a Go module the proxy here refuses (engine/refused-modules.txt), so
the real CLI from `make engine` cannot run `pulumi preview`/`up` on a Python program by itself.
tools/check/engine.py works around that with the Automation API's inline programs; this file does the same
thing behind the plugin interface, so that the plain CLI commands the CI jobs and the TWG type
(`pulumi up --stack alpha`, `pulumi preview --policy-pack policy ...`) run unchanged:

- Run: the Automation API's own LanguageServer (pulumi.automation._server), the code that serves
  inline programs, running `__main__.py` of the folder the CLI starts this plugin in (the project);
- RunPlugin: the policy pack, `python -u __main__.py ARGS` in the pack's folder, as the real host
  runs a Python plugin, its output streamed back;
- everything else (Handshake, GetRequiredPackages, InstallDependencies, ...) is left to the CLI's
  fallbacks for older language hosts.

It runs with the Python of the project's `.venv` (the launcher below), like the real host
(`runtime.options.virtualenv` in Pulumi.yaml).
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

from pulumi.automation._server import LanguageServer
from pulumi.runtime.proto import language_pb2, language_pb2_grpc


def program():
    project = Path.cwd()
    if str(project) not in sys.path:
        sys.path.insert(0, str(project))
    runpy.run_path(str(project / "__main__.py"), run_name="__main__")


class StandInLanguage(LanguageServer):
    def RunPlugin(self, request, context):
        env = {**os.environ, **dict(e.split("=", 1) for e in request.env if "=" in e)}
        proc = subprocess.Popen(
            [sys.executable, "-u", "__main__.py", *request.args],
            cwd=request.info.program_directory or request.pwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert proc.stdout is not None  # stdout=PIPE
        for line in proc.stdout:
            yield language_pb2.RunPluginResponse(stdout=line)
        yield language_pb2.RunPluginResponse(exitcode=proc.wait())


def install_launcher(folder: Path, python: str) -> Path:
    """Write `pulumi-language-python` into `folder`: this stand-in, run by `python`."""
    exe = Path(folder) / "pulumi-language-python"
    exe.write_text(f'#!/bin/sh\nexec {python} -u {Path(__file__).resolve()} "$@"\n')
    exe.chmod(0o755)
    return exe


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository
    from tests.grpc_standin import serve

    serve(
        lambda server: language_pb2_grpc.add_LanguageRuntimeServicer_to_server(
            StandInLanguage(program), server
        ),
        8,
    )


if __name__ == "__main__":
    main()
