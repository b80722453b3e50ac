"""The scraper asks pods for the samples it reads by name (`/metrics?name[]=…`), as
prometheus_client's exposition app (vLLM's and SGLang's /metrics) understands, and takes the
whole page from a pod whose registry cannot answer so (multiprocess mode)."""

from __future__ import annotations

import asyncio
import random

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily

from inference_gateway.operator.ports import free_port
from inference_gateway.router.endpoint_state import EndpointState
from inference_gateway.router.metrics_scraper import METRIC_NAMES, MetricsScraper, metrics_url, parse_metrics
from inference_gateway.router.table import Endpoint, Pool, RoutingTable, Runtime
from inference_gateway.router.telemetry import Telemetry
from inference_gateway.router.token_usage import TOKEN_METRICS, TokenAccounting, parse_token_series
from inference_gateway.simulator.metrics import SimMetrics, _EngineGauges

HOST = "127.9.41.1"


class _Engine:
    num_waiting, num_running = 3, 20

    class kv:
        capacity_tokens = 34000

        @staticmethod
        def usage() -> float:
            return 0.5


def _simulated(runtime: str) -> SimMetrics:
    m = SimMetrics(runtime, "m", 16, 2000)
    m.engine = _Engine()
    m.registry.register(_EngineGauges(m))
    rng = random.Random(1)
    for _ in range(50):
        m.on_first_token(None, rng.random())
        m.on_step(1, [rng.random() / 10], 100)
        m.request_prompt_tokens.observe(rng.randint(1, 3000))
        m.request_generation_tokens.observe(50)
    if runtime == "vllm":
        m.prefix_queries.inc(1000)
        m.prefix_hits.inc(300)
    return m


def test_a_vllm_page_asked_by_name_reads_as_the_whole_page_in_a_third_of_its_lines():
    m = _simulated("vllm")
    names, tokens = METRIC_NAMES[Runtime.VLLM], TOKEN_METRICS[Runtime.VLLM]
    whole = m.render().decode()
    own = m.render(names.samples).decode()
    both = m.render(names.samples | tokens.samples()).decode()
    assert parse_metrics(own, names, 0) == parse_metrics(whole, names, 0)
    assert parse_metrics(whole, names, 0).steps == 50  # every series the scheduler reads is there
    assert parse_token_series(both, tokens) == parse_token_series(whole, tokens)
    assert parse_token_series(own, tokens) == {}
    assert len(own.splitlines()) * 5 < len(whole.splitlines())
    assert len(both.splitlines()) * 2 < len(whole.splitlines())


def test_the_simulated_sglang_page_asked_by_name_is_empty_as_a_multiprocess_registry_answers():
    m = _simulated("sglang")
    assert m.render(METRIC_NAMES[Runtime.SGLANG].samples).strip() == b""
    assert b"sglang:num_queue_reqs" in m.render()


class _Multiprocess:
    """Like prometheus_client's MultiProcessCollector: collects, but names nothing up front."""

    def collect(self):
        g = GaugeMetricFamily("vllm:num_requests_waiting", "waiting", labels=["model_name"])
        g.add_metric(["m"], 7.0)
        yield g
        g = GaugeMetricFamily("vllm:num_requests_running", "running", labels=["model_name"])
        g.add_metric(["m"], 2.0)
        yield g


def _named_registry() -> CollectorRegistry:
    r = CollectorRegistry()
    Gauge("vllm:num_requests_waiting", "waiting", ["model_name"], registry=r).labels("m").set(4)
    Gauge("vllm:num_requests_running", "running", ["model_name"], registry=r).labels("m").set(9)
    Gauge("vllm:kv_cache_usage_perc", "kv", ["model_name"], registry=r).labels("m").set(0.25)
    Gauge("vllm:unread_gauge", "not read by the router", ["model_name"], registry=r).labels("m").set(1)
    h = Histogram("vllm:request_prompt_tokens", "prompt", ["model_name"], buckets=(10, 100, 1000), registry=r)
    h.labels("m").observe(50)
    return r


def _multiprocess_registry() -> CollectorRegistry:
    r = CollectorRegistry()
    r.register(_Multiprocess())
    return r


@pytest.fixture
def exposition():
    """prometheus_client's own exposition server (the code behind vLLM's and SGLang's /metrics)."""
    servers = []

    def serve(registry: CollectorRegistry) -> str:
        port = free_port(HOST)
        server, thread = start_http_server(port, HOST, registry)
        servers.append((server, thread))
        return f"{HOST}:{port}"

    yield serve
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _scraping(address: str, reader=None, state: EndpointState | None = None) -> MetricsScraper:
    """A scraper of the one pod at `address`, started."""
    scraper = MetricsScraper(state or EndpointState(), interval=0.05, reader=reader)
    host, port = address.split(":")
    scraper.on_table(RoutingTable({"ns/p": Pool("ns", "p", int(port), endpoints=(Endpoint("pod", "ns", host, int(port)),))}))
    return scraper


async def _scraped(address: str, reader=None) -> EndpointState:
    state = EndpointState()
    scraper = _scraping(address, reader, state)
    try:
        for _ in range(100):  # bounded: 5 s
            await asyncio.sleep(0.05)
            if state.metrics.get(address) is not None:
                break
    finally:
        await scraper.stop()
    return state


async def test_a_prometheus_client_server_answers_the_scrapers_url_with_just_those_samples(exposition):
    address = exposition(_named_registry())
    names = METRIC_NAMES[Runtime.VLLM]
    async with aiohttp.ClientSession() as session:
        async with session.get(metrics_url(address, names.samples)) as resp:
            text = await resp.text()
    assert "vllm:num_requests_waiting" in text and "vllm:unread_gauge" not in text
    assert "vllm:request_prompt_tokens" not in text
    state = await _scraped(address, TokenAccounting(Telemetry()))
    m = state.metrics[address]
    assert (m.waiting, m.running, m.kv_usage) == (4.0, 9.0, 0.25)


async def test_a_pod_that_answers_by_name_with_nothing_is_scraped_whole(exposition):
    address = exposition(_multiprocess_registry())
    async with aiohttp.ClientSession() as session:
        async with session.get(metrics_url(address, METRIC_NAMES[Runtime.VLLM].samples)) as resp:
            assert (await resp.text()).strip() == ""  # what a multiprocess registry answers by name
    state = await _scraped(address)
    m = state.metrics[address]
    assert (m.waiting, m.running) == (7.0, 2.0)


async def test_token_series_are_asked_for_when_the_accounting_is_due_and_counted(exposition):
    registry = _named_registry()
    prompt = registry._names_to_collectors["vllm:request_prompt_tokens"]
    address = exposition(registry)
    accounting = TokenAccounting(Telemetry(), interval=0.2)
    scraper = _scraping(address, accounting)
    label = 'inference_model_input_tokens_sum{model_name="m",target_model_name="m"}'

    def exported() -> float:
        lines = generate_latest(accounting.telemetry.registry).decode().splitlines()
        return next((float(x.split()[-1]) for x in lines if x.startswith(label + " ")), 0.0)

    try:
        for _ in range(100):  # bounded: 5 s; the first read is the baseline
            await asyncio.sleep(0.05)
            if accounting._seen:
                break
        prompt.labels("m").observe(700)  # a request served after the baseline
        for _ in range(100):
            await asyncio.sleep(0.05)
            if exported():
                break
    finally:
        await scraper.stop()
    assert exported() == 700
