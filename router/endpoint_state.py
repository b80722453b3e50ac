"""What the router knows about each endpoint right now: scraped model-server metrics, the
requests it has itself sent there and not yet seen finish, and whether it is reachable.

An endpoint whose connection failed (a scrape refused, reset or timed out) is *down* at once,
until a scrape succeeds again: its last metrics are dropped rather than trusted for
`stale_after`, and the scheduler leaves it out. Requests to a dead pod fail fast, so its
in-flight count falls to zero; without this the in-flight scorer would prefer it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from .step_cost import StepCostFit


@dataclass(slots=True, frozen=True)
class EndpointMetrics:
    """One scrape of a pod: a value, replaced by the next scrape and never changed (the cost
    scorer keeps terms computed from it until then)."""

    waiting: float = 0.0        # requests queued in the model server
    running: float = 0.0        # requests in its running batch
    kv_usage: float = 0.0       # KV-cache use, 0..1
    kv_blocks: int | None = None  # KV capacity in blocks, when the server reports it
    block_size: int | None = None
    updated_at: float = 0.0     # time.monotonic() of the scrape; 0 = never
    # first tokens the pod has produced (its TTFT histogram's _count, cumulative): the cost
    # scorer counts the sends still before theirs
    ttft_count: float = 0.0
    # cumulative: the ITL histogram's _sum and _count, the engine steps (vLLM's iteration-tokens
    # histogram _count) and the prompt tokens computed (its prefix-cache queries − hits); None
    # where not exported: what `step_cost` fits
    itl_sum: float = 0.0
    itl_count: float = 0.0
    steps: float | None = None
    prefill_tokens: float | None = None
    # KV capacity and free room in tokens (0 where the size is not reported): computed once per
    # scrape, not once per pod in every pick
    kv_capacity: float = field(init=False, default=0.0)
    kv_free: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.kv_blocks and self.block_size:
            capacity = float(self.kv_blocks * self.block_size)
            object.__setattr__(self, "kv_capacity", capacity)  # frozen: set once, here
            object.__setattr__(self, "kv_free", capacity * (1.0 - self.kv_usage))


@dataclass
class EndpointState:
    """Per-address state shared by the scraper (writer) and the scheduler (reader)."""

    stale_after: float = 1.0
    metrics: dict[str, EndpointMetrics] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    # The KV tokens those requests will hold by their end (uncached prompt + output room), as
    # the cost scorer counted them at the pick: what the pod has promised, not what it holds yet.
    committed: dict[str, float] = field(default_factory=dict)
    # Requests sent to each endpoint since its last scrape: its scraped queue cannot show them
    # yet, so admission adds them to the queue it sees (else a freed slot would release the
    # whole waiting queue onto the pod before the next scrape).
    since_scrape: dict[str, int] = field(default_factory=dict)
    # Endpoints whose last connection attempt failed → time.monotonic() of the first failure.
    down: dict[str, float] = field(default_factory=dict)
    # What one more running request costs a pod's steps, fitted from consecutive scrapes.
    step_cost: StepCostFit = field(default_factory=StepCostFit)
    # Told of every scrape (address, its metrics, its requests in flight): the cost scorer
    # computes a pod's terms that no request changes then, not in the next pick
    # (bench/overhead_scheduling.py: at 1,000 pods, recomputing them all in every pick was most
    # of its cost).
    on_update: list[Callable[[str, EndpointMetrics, int], None]] = field(default_factory=list)

    def update(self, address: str, metrics: EndpointMetrics) -> None:
        before = self.metrics.get(address)
        if before is not None:
            self.step_cost.observe(before, metrics)
        self.metrics[address] = metrics
        self.since_scrape.pop(address, None)
        self.down.pop(address, None)
        for listener in self.on_update:
            listener(address, metrics, self.in_flight.get(address, 0))

    def mark_down(self, address: str, now: float | None = None) -> bool:
        """The endpoint could not be reached: out of rotation until a scrape succeeds.
        True the first time (for a log line), False while it stays down."""
        self.metrics.pop(address, None)
        if address in self.down:
            return False
        self.down[address] = now if now is not None else time.monotonic()
        return True

    def fresh(self, address: str, now: float | None = None) -> EndpointMetrics | None:
        """The endpoint's metrics, or None when they are missing or too old to trust."""
        m = self.metrics.get(address)
        if m is None or m.updated_at == 0.0:
            return None
        if (now if now is not None else time.monotonic()) - m.updated_at > self.stale_after:
            return None
        return m

    def started(self, address: str, kv_tokens: float = 0.0) -> None:
        self.in_flight[address] = self.in_flight.get(address, 0) + 1
        self.since_scrape[address] = self.since_scrape.get(address, 0) + 1
        if kv_tokens:
            self.committed[address] = self.committed.get(address, 0.0) + kv_tokens

    def finished(self, address: str, kv_tokens: float = 0.0) -> None:
        n = self.in_flight.get(address, 0) - 1
        if n > 0:
            self.in_flight[address] = n
            if kv_tokens:
                self.committed[address] = max(0.0, self.committed.get(address, 0.0) - kv_tokens)
        else:  # nothing in flight: nothing promised either (no drift survives an idle moment)
            self.in_flight.pop(address, None)
            self.committed.pop(address, None)

    def forget_except(self, addresses: set[str]) -> None:
        for addr in [a for a in self.metrics if a not in addresses]:
            del self.metrics[addr]
        for addr in [a for a in self.since_scrape if a not in addresses]:
            del self.since_scrape[addr]
        for addr in [a for a in self.down if a not in addresses]:
            del self.down[addr]
