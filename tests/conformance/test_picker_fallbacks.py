"""Another endpoint picker behind our gateway answers with a list `primary,fallback`: the
primary is down, so the request is served by the fallback, and the picker is told which
endpoint served (`envoy.lb` / `x-gateway-destination-endpoint-served` with the response
headers), as the endpoint-picker protocol asks. The picker here is a minimal ext_proc server
that speaks the protocol as upstream's pickers do (full duplex body, held headers answer)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import grpc
import pytest
import yaml
from envoy.config.core.v3 import base_pb2 as core
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from google.protobuf import struct_pb2

from conformance.echo import EchoPod
from inference_gateway.cli.standalone import Standalone, StandaloneSettings
from inference_gateway.operator.ports import free_port
from inference_gateway.router.server import RouterSettings

pytestmark = pytest.mark.envoy
DEST = "x-gateway-destination-endpoint"


def _header(key: str, value: str) -> core.HeaderValueOption:
    return core.HeaderValueOption(header=core.HeaderValue(key=key, raw_value=value.encode()))


class ListPicker(pb_grpc.ExternalProcessorServicer):
    """Always answers `self.answer`; reports the served endpoint back as response header x-served."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def _route(self) -> list[pb.ProcessingResponse]:
        metadata = struct_pb2.Struct()
        metadata.update({"envoy.lb": {DEST: self.answer}})
        headers = pb.ProcessingResponse(
            request_headers=pb.HeadersResponse(response=pb.CommonResponse(
                header_mutation=pb.HeaderMutation(set_headers=[_header(DEST, self.answer)]))),
            dynamic_metadata=metadata)
        return [headers]

    async def Process(self, requests, context):
        body = b""
        async for message in requests:
            kind = message.WhichOneof("request")
            if kind == "request_headers":
                if message.request_headers.end_of_stream:
                    for r in self._route():
                        yield r
            elif kind == "request_body":
                body += message.request_body.body
                if message.request_body.end_of_stream:
                    for r in self._route():
                        yield r
                    yield pb.ProcessingResponse(request_body=pb.BodyResponse(response=pb.CommonResponse(
                        body_mutation=pb.BodyMutation(streamed_response=pb.StreamedBodyResponse(
                            body=body, end_of_stream=True)))))
            elif kind == "request_trailers":
                yield pb.ProcessingResponse(request_trailers=pb.TrailersResponse())
            elif kind == "response_headers":
                served = message.metadata_context.filter_metadata["envoy.lb"].fields[
                    "x-gateway-destination-endpoint-served"].string_value
                yield pb.ProcessingResponse(response_headers=pb.HeadersResponse(response=pb.CommonResponse(
                    header_mutation=pb.HeaderMutation(set_headers=[_header("x-served", served)]))))


def manifests(listener: int, picker_port: int, pod_port: int) -> list[dict]:
    pod = lambda name, ip, app: {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}},
                                 "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}}
    return [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "c"},
         "spec": {"controllerName": "inference.networking.x-k8s.io/gateway-controller"}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw"},
         "spec": {"gatewayClassName": "c", "listeners": [{"name": "http", "protocol": "HTTP", "port": listener}]}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"},
         "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [
             {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "p"}]}]}},
        {"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool", "metadata": {"name": "p"},
         "spec": {"selector": {"matchLabels": {"app": "m"}}, "targetPorts": [{"number": pod_port}],
                  "endpointPickerRef": {"name": "list-epp", "port": {"number": 9002}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "list-epp"},
         "spec": {"selector": {"app": "list-epp"}, "ports": [{"port": 9002, "targetPort": picker_port}]}},
        pod("alive", "127.8.200.2", "m"), pod("dead", "127.8.200.3", "m"), pod("epp", "127.8.200.9", "list-epp"),
    ]


async def test_the_gateway_follows_the_pickers_fallbacks_and_reports_the_served_endpoint(tmp_path: Path):
    pod_port, picker_port, listener = free_port("127.8.200.2"), free_port("127.8.200.9"), free_port()
    alive, dead = f"127.8.200.2:{pod_port}", f"127.8.200.3:{pod_port}"
    echo = EchoPod("alive", "default", "127.8.200.2", [pod_port])
    await echo.start()
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_ExternalProcessorServicer_to_server(ListPicker(f"{dead},{alive}"), server)
    server.add_insecure_port(f"127.8.200.9:{picker_port}")
    await server.start()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "all.yaml").write_text(yaml.safe_dump_all(manifests(listener, picker_port, pod_port)))
    gateway = Standalone(StandaloneSettings(
        manifests=[tmp_path / "m"], router=RouterSettings(ext_proc_port=free_port(), health_port=0, metrics_port=0),
        xds_port=free_port(), admin_port=free_port(), envoy_concurrency=1, workdir=tmp_path / "envoy"))
    try:
        await gateway.start()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            for _ in range(3):
                async with http.post(f"http://127.0.0.1:{listener}/v1/completions",
                                     json={"model": "m", "prompt": "hi"}) as resp:
                    assert resp.status == 200, await resp.text()
                    assert (await resp.json())["pod"] == "alive"
                    assert resp.headers["x-served"] == alive
    finally:
        await gateway.stop()
        await server.stop(0)
        await echo.stop()
