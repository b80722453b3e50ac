"""Benchmark harness: our gateway vs plain Envoy round robin and sglang-router on simulated
pods, driven by inference-perf (`igw bench`; see bench/README.md)."""
