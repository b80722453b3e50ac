"""The echo pod's cleartext HTTP/2 port (upstream's echo-basic H2C_PORT): speaks h2c with prior
knowledge only, so an answer proves the gateway honoured `appProtocol: kubernetes.io/h2c`. A
plain HTTP/1.1 request is refused (connection closed), except `GET /metrics`, which our
picker's scraper sends."""

from __future__ import annotations

import asyncio
import json

import h2.config
import h2.connection
import h2.events
import h2.exceptions

PREFACE = b"PRI * HTTP/2.0"


class _H2Echo(asyncio.Protocol):
    def __init__(self, pod: str, namespace: str, port: int, metrics: str) -> None:
        self.pod, self.namespace, self.port, self.metrics = pod, namespace, port, metrics
        self.conn: h2.connection.H2Connection | None = None
        self.streams: dict[int, dict[str, str]] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.conn is None:
            if not data.startswith(PREFACE[:len(data)]):
                if data.startswith(b"GET /metrics"):
                    body = self.metrics.encode()
                    self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: "
                                         + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
                self.transport.close()
                return
            self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
            self.conn.initiate_connection()
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.transport.write(self.conn.data_to_send())
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.streams[event.stream_id] = dict(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self._respond(event.stream_id)
        self.transport.write(self.conn.data_to_send())

    def _respond(self, stream_id: int) -> None:
        headers = self.streams.pop(stream_id, {})
        body = json.dumps({"path": headers.get(":path"), "host": headers.get(":authority"),
                           "method": headers.get(":method"), "namespace": self.namespace, "pod": self.pod,
                           "httpPort": str(self.port), "protocol": "HTTP/2.0", "headers": headers}).encode()
        extra = []
        for key, value in headers.items():
            if key.lower() == "x-echo-set-header":
                name, _, val = value.partition(":")
                extra.append((name.strip().lower(), val.strip()))
        self.conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/json"),
                                           ("content-length", str(len(body))), *extra])
        self.conn.send_data(stream_id, body, end_stream=True)


async def serve_h2c(pod: str, namespace: str, ip: str, port: int, metrics: str) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _H2Echo(pod, namespace, port, metrics), ip, port)
