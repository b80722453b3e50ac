"""A stand-in for the conformance suite's echo server (gcr.io/k8s-staging-gateway-api/echo-basic):
answers any method and path with 200 and a JSON body naming the pod, its namespace and the
port that answered, and sets the response header named by `X-Echo-Set-Header: name:value`.
It also serves zeroed vLLM gauges at /metrics, so our picker sees an idle model server."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .echo_h2c import serve_h2c

METRICS = ("vllm:num_requests_waiting 0\nvllm:num_requests_running 0\nvllm:kv_cache_usage_perc 0\n")


class EchoPod:
    def __init__(self, name: str, namespace: str, ip: str, ports: list[int], h2c_ports: set[int] = frozenset()) -> None:
        self.name, self.namespace, self.ip, self.ports = name, namespace, ip, ports
        self.h2c_ports = h2c_ports  # these ports speak h2c only (upstream's H2C_PORT)
        self._runners: list[web.AppRunner] = []
        self._servers: list[asyncio.AbstractServer] = []

    def _app(self, port: int) -> web.Application:
        async def echo(request: web.Request) -> web.Response:
            if request.path == "/metrics":
                return web.Response(text=METRICS)
            await request.read()
            headers = {}
            for value in request.headers.getall("X-Echo-Set-Header", []):
                key, _, val = value.partition(":")
                headers[key.strip()] = val.strip()
            return web.json_response({
                "path": request.path, "host": request.host, "method": request.method,
                "namespace": self.namespace, "pod": self.name, "httpPort": str(port),
                "headers": {k: v for k, v in request.headers.items()},
            }, headers=headers)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", echo)
        return app

    async def start(self) -> None:
        for port in self.ports:
            if port in self.h2c_ports:
                self._servers.append(await serve_h2c(self.name, self.namespace, self.ip, port, METRICS))
                continue
            runner = web.AppRunner(self._app(port), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, self.ip, port).start()
            self._runners.append(runner)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        for server in self._servers:
            server.close()
            await server.wait_closed()
