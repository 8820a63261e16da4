"""A stand-in resource plugin for the real-engine tests: NOT the real provider.

The hcloud, cloudflare, digitalocean and command provider plugins can't be built here (the Go module
proxy refuses their modules: engine/refused-modules.txt). To still run the real `pulumi` CLI, the real
engine and the real policy pack against the real program, the tests install this plugin under each of
those four names. It speaks the engine's ResourceProvider gRPC protocol and is deliberately dumb:

- Check accepts any inputs unchanged (no schema, no defaults): it can't show a provider's own errors;
- Diff compares old and new inputs key by key;
- Create/Update echo the inputs as outputs (ids are made up); nothing leaves this process;
- Read refuses: imports and refreshes need the real provider and its API.

So a test using it proves what the engine and our program do (config resolution, the resource set,
operations, resource options, policy verdicts), and nothing about what the real provider would say.
Every call is appended as a JSON line to $SOCIALCOOP_STANDIN_LOG when that is set.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

NAME = os.path.basename(sys.argv[0]).removeprefix("pulumi-resource-")


def _log(method: str, **fields) -> None:
    path = os.environ.get("SOCIALCOOP_STANDIN_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"plugin": NAME, "method": method, **fields}) + "\n")


def _dict(s: struct_pb2.Struct) -> dict:
    return json_format.MessageToDict(s)


class StandIn(provider_pb2_grpc.ResourceProviderServicer):
    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=os.environ.get("SOCIALCOOP_STANDIN_VERSION", "0.0.0"))

    def GetSchema(self, request, context):
        return provider_pb2.GetSchemaResponse(schema=json.dumps({"name": NAME}))

    def CheckConfig(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):
        return provider_pb2.DiffResponse(changes=provider_pb2.DiffResponse.DIFF_NONE)

    def Configure(self, request, context):
        _log("Configure", variables=sorted(request.variables))
        return provider_pb2.ConfigureResponse(acceptSecrets=True, acceptResources=True, supportsPreview=False)

    def Check(self, request, context):
        _log("Check", urn=request.urn, news=_dict(request.news))
        return provider_pb2.CheckResponse(inputs=request.news)

    def Diff(self, request, context):
        olds, news = _dict(request.olds), _dict(request.news)
        changed = sorted(k for k in olds.keys() | news.keys() if olds.get(k) != news.get(k))
        _log("Diff", urn=request.urn, changed=changed)
        changes = provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE
        return provider_pb2.DiffResponse(changes=changes, diffs=changed)

    def Create(self, request, context):
        _log("Create", urn=request.urn, preview=request.preview)
        rid = "" if request.preview else hashlib.sha256(request.urn.encode()).hexdigest()[:16]
        return provider_pb2.CreateResponse(id=rid, properties=request.properties)

    def Update(self, request, context):
        _log("Update", urn=request.urn, preview=request.preview)
        return provider_pb2.UpdateResponse(properties=request.news)

    def Delete(self, request, context):
        _log("Delete", urn=request.urn)
        return empty_pb2.Empty()

    def Read(self, request, context):
        _log("Read", urn=request.urn, id=request.id)
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"stand-in {NAME} plugin: can't read {request.id!r}; imports and refreshes need the real provider",
        )

    def Invoke(self, request, context):
        _log("Invoke", tok=request.tok)
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"stand-in {NAME} plugin: no data sources")

    def Cancel(self, request, context):
        return empty_pb2.Empty()


def install_launchers(folder, versions: dict[str, str]) -> None:
    """Write `pulumi-resource-NAME` launchers of this stand-in into `folder`, one per provider."""

    for name, version in versions.items():
        exe = Path(folder) / f"pulumi-resource-{name}"
        exe.write_text(
            f'#!/bin/sh\nSOCIALCOOP_STANDIN_VERSION={version} exec {sys.executable} {Path(__file__).resolve()} "$@"\n'
        )
        exe.chmod(0o755)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository
    from tests.grpc_standin import serve

    serve(lambda server: provider_pb2_grpc.add_ResourceProviderServicer_to_server(StandIn(), server))


if __name__ == "__main__":
    main()
