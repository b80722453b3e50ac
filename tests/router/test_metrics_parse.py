from inference_gateway.router.metrics_scraper import METRIC_NAMES, parse_metrics
from inference_gateway.router.table import Runtime

VLLM = """# HELP vllm:num_requests_waiting Number of requests waiting.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="a"} 3.0
vllm:num_requests_waiting{model_name="b"} 1.0
vllm:num_requests_running{model_name="a"} 7.0
vllm:kv_cache_usage_perc{model_name="a"} 0.25
vllm:gpu_cache_usage_perc{model_name="a"} 0.99
vllm:cache_config_info{block_size="16",cache_dtype="auto",num_gpu_blocks="28125"} 1.0
vllm:num_requests_waiting_other 100
"""

SGLANG = """sglang:num_queue_reqs{model_name="m"} 4
sglang:num_running_reqs{model_name="m"} 2
sglang:token_usage{model_name="m"} 0.5
sglang:max_total_num_tokens{model_name="m"} 450000
"""


def test_vllm_names_sum_queues_and_prefer_the_current_kv_metric():
    m = parse_metrics(VLLM, METRIC_NAMES[Runtime.VLLM], now=1.0)
    assert (m.waiting, m.running, m.kv_usage) == (4.0, 7.0, 0.25)
    assert (m.kv_blocks, m.block_size, m.updated_at) == (28125, 16, 1.0)


def test_vllm_legacy_kv_name_is_used_when_alone():
    text = 'vllm:gpu_cache_usage_perc{model_name="a"} 0.4\n'
    assert parse_metrics(text, METRIC_NAMES[Runtime.VLLM], 0).kv_usage == 0.4


def test_sglang_names():
    m = parse_metrics(SGLANG, METRIC_NAMES[Runtime.SGLANG], now=2.0)
    assert (m.waiting, m.running, m.kv_usage, m.kv_blocks, m.block_size) == (4, 2, 0.5, 450000, 1)


def test_garbage_lines_are_skipped():
    text = "vllm:num_requests_waiting{model_name=\"a\"} notanumber\nvllm:num_requests_running 2\n"
    m = parse_metrics(text, METRIC_NAMES[Runtime.VLLM], 0)
    assert (m.waiting, m.running) == (0, 2)


def test_the_ttft_histogram_count_is_read_for_the_cost_model():
    text = ('vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="a"} 3.0\n'
            'vllm:time_to_first_token_seconds_sum{model_name="a"} 1.5\n'
            'vllm:time_to_first_token_seconds_count{model_name="a"} 6.0\n'
            'vllm:time_to_first_token_seconds_count{model_name="b"} 2.0\n')
    m = parse_metrics(text, METRIC_NAMES[Runtime.VLLM], 0)
    assert m.ttft_count == 8.0
    s = parse_metrics('sglang:time_to_first_token_seconds_count{model_name="m"} 2.0\n', METRIC_NAMES[Runtime.SGLANG], 0)
    assert s.ttft_count == 2.0


def test_step_time_counters_are_read_for_the_decode_term():
    """What router/step_cost.py fits: the ITL histogram's sum and count (the current name wins
    over the older one) and the prompt tokens computed (prefix-cache queries − hits)."""
    text = ('vllm:inter_token_latency_seconds_sum{model_name="a"} 3.0\n'
            'vllm:inter_token_latency_seconds_count{model_name="a"} 100.0\n'
            'vllm:time_per_output_token_seconds_sum{model_name="a"} 9.0\n'
            'vllm:time_per_output_token_seconds_count{model_name="a"} 900.0\n'
            'vllm:prefix_cache_queries_total{model_name="a"} 5000.0\n'
            'vllm:prefix_cache_hits_total{model_name="a"} 3000.0\n'
            'vllm:iteration_tokens_total_sum{model_name="a"} 9000.0\n'
            'vllm:iteration_tokens_total_count{model_name="a"} 40.0\n')
    m = parse_metrics(text, METRIC_NAMES[Runtime.VLLM], 0)
    assert (m.itl_sum, m.itl_count, m.steps, m.prefill_tokens) == (3.0, 100.0, 40.0, 2000.0)
    older = parse_metrics(text.split("\n", 2)[2], METRIC_NAMES[Runtime.VLLM], 0)
    assert (older.itl_sum, older.itl_count) == (9.0, 900.0)
    # SGLang counts prompt tokens when a request ends: no per-step prefill to fit against
    assert parse_metrics(SGLANG, METRIC_NAMES[Runtime.SGLANG], 0).prefill_tokens is None
    assert parse_metrics(VLLM, METRIC_NAMES[Runtime.VLLM], 0).steps is None
