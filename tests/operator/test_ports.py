"""free_port draws below the ephemeral range, where outgoing connections never take a port."""

import collections
import random
import socket

from inference_gateway.operator import ports


def test_ports_come_from_below_the_ephemeral_range_and_are_bindable():
    for _ in range(50):
        port = ports.free_port("127.0.0.1")
        assert ports.LOW <= port < ports.HIGH
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_seeded_random_module_does_not_make_draws_repeat(monkeypatch):
    # a fresh memory of issued ports for each sequence, as two processes would have: only the
    # source of randomness can then tell the sequences apart
    monkeypatch.setattr(ports, "_issued", collections.deque(maxlen=2048))
    random.seed(1)
    first = [ports.free_port() for _ in range(5)]
    monkeypatch.setattr(ports, "_issued", collections.deque(maxlen=2048))
    random.seed(1)
    second = [ports.free_port() for _ in range(5)]
    assert first != second


def test_a_taken_port_is_never_returned(monkeypatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            free = other.getsockname()[1]
        draws = iter([taken, taken, free])
        monkeypatch.setattr(ports._draw, "randrange", lambda lo, hi: next(draws))
        assert ports.free_port("127.0.0.1") == free


def test_a_port_handed_out_is_not_handed_out_again_before_it_is_bound(monkeypatch):
    draws = iter([24000, 24000, 24001])
    monkeypatch.setattr(ports._draw, "randrange", lambda lo, hi: next(draws))
    monkeypatch.setattr(ports, "_issued", collections.deque(maxlen=8))
    assert [ports.free_port(), ports.free_port()] == [24000, 24001]
