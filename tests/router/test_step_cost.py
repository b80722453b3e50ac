"""The decode term's ratio (prefill tokens per running request per step), fitted from
consecutive scrapes of the pods' step-time counters through EndpointState."""

from __future__ import annotations

import random
from dataclasses import replace

from inference_gateway.router.endpoint_state import EndpointMetrics, EndpointState
from inference_gateway.router.step_cost import DEFAULT_TOKENS_PER_RUNNING, MIN_SAMPLES


class FakePod:
    """A pod whose engine steps take a + d·running + p·prefill tokens, scraped every 0.1 s."""

    def __init__(self, rng: random.Random, a: float, d: float, p: float) -> None:
        self.rng, self.a, self.d, self.p = rng, a, d, p
        self.itl_sum = self.itl_count = self.prefill = self.steps = 0.0
        self.running = 10

    def scrape(self, at: float) -> EndpointMetrics:
        """Steps for 0.1 s, the batch moving from one size to the next halfway through."""
        before, after = self.running, max(1, min(120, self.running + self.rng.randint(-8, 8)))
        elapsed = 0.0
        while elapsed < 0.1:
            running = before if elapsed < 0.05 else after
            tokens = self.rng.choice((0, 0, 128, 900, 2500))  # prompt tokens computed this step
            step = self.a + self.d * running + self.p * tokens
            self.itl_sum += step * running  # one observation per running sequence
            self.itl_count += running
            self.prefill += tokens
            self.steps += 1
            elapsed += step
        self.running = after
        return EndpointMetrics(running=float(after), updated_at=at, itl_sum=self.itl_sum,
                               itl_count=self.itl_count, steps=self.steps, prefill_tokens=self.prefill)


def scrape_all(state: EndpointState, pods: list[FakePod], rounds: int, start: float = 0.0) -> None:
    for r in range(rounds):
        for i, pod in enumerate(pods):
            state.update(f"10.4.0.{i}:8000", pod.scrape(start + 0.1 * r))


def test_the_fit_finds_what_one_running_request_costs_in_prefill_tokens():
    rng = random.Random(3)
    state = EndpointState()
    # h100-32b's simulated step: 22 ms + 0.26 ms per running request + 68 µs per prompt token
    pods = [FakePod(rng, 0.022, 0.00026, 0.000068) for _ in range(4)]
    assert state.step_cost.tokens_per_running() == DEFAULT_TOKENS_PER_RUNNING
    scrape_all(state, pods, 200)
    assert abs(state.step_cost.tokens_per_running() / (0.00026 / 0.000068) - 1) < 0.15  # 3.8


def test_it_follows_the_pods_when_they_change():
    rng = random.Random(4)
    state = EndpointState()
    pods = [FakePod(rng, 0.006, 0.00013, 0.000017) for _ in range(4)]  # h100-8b: 7.6 tokens
    scrape_all(state, pods, 200)
    assert abs(state.step_cost.tokens_per_running() / 7.6 - 1) < 0.15
    for pod in pods:  # decoding gets cheaper (shorter contexts)
        pod.d = 0.000034
    scrape_all(state, pods, 3000, start=20.0)  # 5 minutes
    assert abs(state.step_cost.tokens_per_running() / 2.0 - 1) < 0.15


def test_pods_that_do_not_count_prompt_tokens_per_step_give_no_sample():
    """SGLang counts prompt tokens when a request ends: its scrapes are not samples. Nor is
    the scrape after a restart, when the counters fall."""
    rng = random.Random(5)
    state = EndpointState()
    pod = FakePod(rng, 0.022, 0.00026, 0.000068)
    for r in range(3 * MIN_SAMPLES):
        state.update("10.4.1.1:8000", replace(pod.scrape(0.1 * r), prefill_tokens=None))
    assert state.step_cost.samples == 0
    state.update("10.4.1.2:8000", pod.scrape(10.0))
    pod.itl_sum = pod.itl_count = pod.prefill = pod.steps = 0.0  # restarted
    state.update("10.4.1.2:8000", pod.scrape(10.1))
    assert state.step_cost.samples == 0
    state.update("10.4.1.2:8000", pod.scrape(10.2))
    assert state.step_cost.samples == 1
    assert state.step_cost.tokens_per_running() == DEFAULT_TOKENS_PER_RUNNING


def test_a_fit_that_makes_no_physical_sense_is_not_used():
    """Samples where step time falls as more requests decode (a pod sharing its GPU, say) give a
    slope below zero: the ratio stays what it was."""
    state = EndpointState()
    itl_sum = itl_count = prefill = steps = 0.0
    for r in range(3 * MIN_SAMPLES):
        decoding = 10 + (r % 7) * 10
        itl_sum += (0.05 - 0.0004 * decoding + 0.00007 * (r % 3) * 500) * decoding * 5
        itl_count += decoding * 5
        prefill += (r % 3) * 500 * 5
        steps += 5
        state.update("10.4.2.1:8000", EndpointMetrics(updated_at=0.1 * r, itl_sum=itl_sum, itl_count=itl_count,
                                                      steps=steps, prefill_tokens=prefill))
    assert state.step_cost.tokens_per_running() == DEFAULT_TOKENS_PER_RUNNING
