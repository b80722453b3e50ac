"""inference-perf as the benchmark starts it: `<bench venv>/bin/python -P client_launcher.py
--config_file FILE`. Runs in the bench venv (Python 3.12, inference-perf 0.7.0), so it imports
nothing of ours. Two adjustments to the client, each for a fair comparison and nothing else:

1. **Arrival times and the traffic split from the config's seed.** inference-perf 0.7.0 seeds
   its prompts and lengths from `load.base_seed`, in its worker processes; but its Poisson and
   constant-rate timers draw from `numpy.random.default_rng()` with no seed (load_timer.py,
   "TODO: Make random state a global seed"), and each request's model in a traffic split comes
   from numpy's global generator in the main process, which nothing seeds. A stage of rate r and duration d sends exactly r·d requests at those times, so the
   time the last one is sent varies from run to run: at 5 req/s for 60 s, by ±3.5 s (one
   standard deviation, ~6 %). Output tok/s is the tokens over the first send to the last answer,
   so below capacity it measured that draw more than the router. Every timer now draws from one
   generator seeded with `load.base_seed`, and the global generator is seeded with it too: every
   router and every repeat gets the same arrivals and the same split.
2. **Model names from a pod**, only for routers whose /v1/models does not list the pods' models
   (sglang-router 0.3.2 answers `unknown`): inference-perf refuses a traffic split over names the
   server does not list, so that check reads the list from a pod (IGW_BENCH_MODELS_URL) instead.
   Requests still go through the router.
"""

from __future__ import annotations

import os
import sys


def seed_client(seed: int) -> None:
    """Every load timer created from now on draws its arrival times from one generator seeded
    with `seed`; the traffic split draws from numpy's global generator, seeded with it. Both are
    used in the client's main process (timers one per stage, in order), before any request."""
    import numpy as np
    from inference_perf.loadgen import load_timer

    np.random.seed(seed)
    arrivals = np.random.default_rng(seed)
    for cls in (load_timer.PoissonLoadTimer, load_timer.ConstantLoadTimer):
        original = cls.__init__

        def __init__(self, *args, _original=original, **kwargs) -> None:
            _original(self, *args, **kwargs)
            self._rand = arrivals

        cls.__init__ = __init__


def config_seed(argv: list[str]) -> int | None:
    """`load.base_seed` of the config file named by `--config_file`."""
    import yaml

    if "--config_file" not in argv:
        return None
    with open(argv[argv.index("--config_file") + 1]) as f:
        config = yaml.safe_load(f) or {}
    seed = (config.get("load") or {}).get("base_seed")
    return int(seed) if seed is not None else None


def models_from(url: str) -> None:
    import requests
    from inference_perf.client.modelserver import openai_client

    def get_supported_models(self):
        return requests.get(url, timeout=10).json()["data"]

    openai_client.openAIModelServerClient.get_supported_models = get_supported_models


def main() -> int:
    seed = config_seed(sys.argv[1:])
    if seed is not None:
        seed_client(seed)
    if models_url := os.environ.get("IGW_BENCH_MODELS_URL"):
        models_from(models_url)
    from inference_perf import main_cli

    sys.argv[0] = "inference-perf"
    return main_cli()


if __name__ == "__main__":
    sys.exit(main())
