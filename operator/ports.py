"""A free loopback port, for local runs that must not collide (tests, benchmarks, demos).

A port the kernel hands out for `bind(0)` comes from the ephemeral range, the same range every
outgoing connection draws its source port from. Between picking such a port and the child
(Envoy, a simulated pod) binding it, any client connection on the machine can take it, and the
child fails with "Address already in use" (seen with Envoy's admin port while benchmarks ran).
So ports are drawn at random from below the ephemeral range, where no outgoing connection goes;
only another picker can collide, and it would have to draw the same port in the same instant.
"""

from __future__ import annotations

import random
import socket
from collections import deque

# Linux's default ephemeral range starts at 32768; stay below it and above the well-known ports.
LOW, HIGH = 20000, 32000
ATTEMPTS = 200
# Its own source of randomness: a test that seeds the `random` module must not make every
# process draw the same ports.
_draw = random.SystemRandom()
# Ports handed out lately: a caller often draws several before its child binds any of them
# (Envoy's listener, admin and xDS ports), and none of them may come back twice.
_issued: deque[int] = deque(maxlen=2048)


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    high = min(HIGH, _ephemeral_low())
    for _ in range(ATTEMPTS if high > LOW else 0):
        port = _draw.randrange(LOW, high)
        if port in _issued:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            _issued.append(port)
            return port
    with socket.socket() as s:  # the low range is full: fall back to the kernel's pick
        s.bind((host, 0))
        return s.getsockname()[1]
