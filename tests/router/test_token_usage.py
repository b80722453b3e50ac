"""Token metrics from the pods' own counters: parsing, increases, claims, restarts."""

from prometheus_client import generate_latest

from inference_gateway.router.table import Endpoint, Pool, PrefillDecode, RoutingTable, Runtime
from inference_gateway.router.telemetry import Telemetry
from inference_gateway.router.token_usage import TOKEN_METRICS, TokenAccounting, parse_token_series
from inference_gateway.simulator.metrics import SimMetrics
from inference_gateway.simulator.request import SimRequest


def pod_metrics(runtime: str, requests: list[tuple[int, int]], model: str = "m") -> str:
    """What our simulated pod exports after serving `requests` [(prompt, output tokens)]."""
    m = SimMetrics(runtime, model, 16, 1000, max_model_len=32768)
    for prompt, output in requests:
        req = SimRequest("r", list(range(prompt)), output, 0.0)
        req.output_token_ids = list(range(output))
        m.on_admitted(req, 0, 0.0)
        m.on_step(output, [], prompt)
        m.on_finished(req, 1.0)
    return m.render().decode()


def accounting(interval: float = 0.0) -> TokenAccounting:
    return TokenAccounting(Telemetry(), interval=interval)


def exported(a: TokenAccounting, name: str, labels: str) -> float:
    for line in generate_latest(a.telemetry.registry).decode().splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.split()[-1])
    return 0.0


def test_both_runtimes_export_histograms_the_router_reads():
    for runtime in (Runtime.VLLM, Runtime.SGLANG):
        series = parse_token_series(pod_metrics(runtime.value, [(7, 3), (700, 40)]), TOKEN_METRICS[runtime])
        prompt, generation = series[("prompt", "m")], series[("generation", "m")]
        assert (prompt.count, prompt.sum, generation.sum) == (2, 707, 43)


def test_counters_alone_give_sum_and_count_in_the_inf_bucket():
    text = ('sglang:prompt_tokens_total{model_name="m"} 30.0\nsglang:generation_tokens_total{model_name="m"} 9.0\n'
            'sglang:num_requests_total{model_name="m"} 3.0\n')
    series = parse_token_series(text, TOKEN_METRICS[Runtime.SGLANG])
    assert series[("prompt", "m")].sum == 30 and series[("generation", "m")].buckets == {float("inf"): 3.0}


def test_each_scrape_adds_the_increase_after_a_baseline():
    a = accounting()
    a.on_metrics("10.0.0.1:8000", Runtime.VLLM, pod_metrics("vllm", [(5, 5)]))  # baseline: not ours
    a.on_metrics("10.0.0.1:8000", Runtime.VLLM, pod_metrics("vllm", [(5, 5), (7, 3), (700, 40)]))
    labels = 'model_name="m",target_model_name="m"'
    assert exported(a, "inference_model_input_tokens_count", labels) == 2
    assert exported(a, "inference_model_input_tokens_sum", labels) == 707
    assert exported(a, "inference_model_output_tokens_bucket", 'le="5.0",' + labels) == 1
    assert exported(a, "inference_model_output_tokens_bucket", 'le="50.0",' + labels) == 2
    # A restarted pod (counters went down) counts everything it holds anew.
    a.on_metrics("10.0.0.1:8000", Runtime.VLLM, pod_metrics("vllm", [(10, 1)]))
    assert exported(a, "inference_model_input_tokens_sum", labels) == 717


def test_claimed_requests_are_not_counted_twice():
    a = accounting()
    a.on_metrics("10.0.0.1:8000", Runtime.VLLM, pod_metrics("vllm", []))
    a.claim("10.0.0.1:8000", 7, 3)  # the router read this one's usage (a renamed model)
    a.on_metrics("10.0.0.1:8000", Runtime.VLLM, pod_metrics("vllm", [(7, 3), (20, 20)]))
    labels = 'model_name="m",target_model_name="m"'
    assert exported(a, "inference_model_input_tokens_count", labels) == 1
    assert exported(a, "inference_model_input_tokens_sum", labels) == 20
    assert not a._claims


def test_prefill_pods_are_not_counted_and_reads_are_rate_limited():
    prefill = Pool("d", "p", 1, endpoints=(Endpoint("p-0", "d", "10.0.1.1", 1),))
    decode = Pool("d", "q", 1, endpoints=(Endpoint("q-0", "d", "10.0.2.1", 1),))
    a = accounting(interval=3600.0)
    a.on_table(RoutingTable(pools={"d/pd": Pool("d", "pd", 1, endpoints=prefill.endpoints + decode.endpoints,
                                                  pd=PrefillDecode(prefill, decode, 1))}))
    for _ in range(2):
        a.on_metrics("10.0.1.1:1", Runtime.SGLANG, pod_metrics("sglang", [(5, 5)]))
        a.on_metrics("10.0.2.1:1", Runtime.SGLANG, pod_metrics("sglang", [(5, 5)]))
    assert "10.0.1.1:1" not in a._last
    assert list(a._seen) == [("10.0.2.1:1", "m", "prompt"), ("10.0.2.1:1", "m", "generation")]
    assert exported(a, "inference_model_input_tokens_count", 'model_name="m",target_model_name="m"') == 0
