import pytest

from inference_gateway.router.prefix_index import PrefixIndex
from inference_gateway.router.scheduler.config import load_config, parse_config
from inference_gateway.router.scheduler.profiles import build_profiles
from inference_gateway.router.table import Strategy


def test_defaults():
    config = load_config(None)
    assert config.weights[Strategy.PREFIX_CACHE] == {"prefix-cost": 1.0}
    assert config.weights[Strategy.DEFAULT] == {"load-cost": 1.0}
    assert (config.admission.max_waiting, config.admission.max_kv) == (5.0, 1.0)


def test_file_overrides_weights_and_thresholds(tmp_path):
    path = tmp_path / "scheduler.yaml"
    path.write_text("profiles:\n  prefix_cache: {prefix: 5, queue: 1}\nsaturation: {max_waiting: 8}\n"
                    "queue: {max_wait_seconds: 12}\n")
    config = load_config(path)
    assert config.weights[Strategy.PREFIX_CACHE] == {"prefix": 5.0, "queue": 1.0}
    assert config.weights[Strategy.DEFAULT] == {"load-cost": 1.0}
    assert (config.admission.max_waiting, config.admission.max_wait) == (8.0, 12.0)
    profiles = build_profiles(PrefixIndex(), config.weights)
    assert [(s.name, w) for s, w in profiles[Strategy.PREFIX_CACHE].scorers] == [("prefix", 5.0), ("queue", 1.0)]
    # weighted scorers keep the saturation filter; the cost model weighs KV room itself
    assert [f.name for f in profiles[Strategy.PREFIX_CACHE].filters] == ["saturation"]
    assert profiles[Strategy.DEFAULT].filters == ()


def test_the_legacy_weighted_profiles_stay_selectable():
    config = parse_config({"profiles": {"PREFIX_CACHE": {"prefix": 3, "queue": 2, "kv-cache": 2, "in-flight": 1}}})
    profiles = build_profiles(PrefixIndex(), config.weights)
    assert [s.name for s, _ in profiles[Strategy.PREFIX_CACHE].scorers] == ["prefix", "queue", "kv-cache", "in-flight"]
    assert [s.name for s, _ in profiles[Strategy.DEFAULT].scorers] == ["cost"]


@pytest.mark.parametrize("data, message", [
    ({"profiles": {"FANCY": {}}}, "unknown profile"),
    ({"weights": {}}, "unknown key"),
])
def test_mistakes_are_named(data, message):
    with pytest.raises(ValueError, match=message):
        parse_config(data)


def test_unknown_scorer_is_named():
    with pytest.raises(ValueError, match="unknown scorer"):
        build_profiles(PrefixIndex(), {Strategy.DEFAULT: {"magic": 1}})


@pytest.mark.parametrize("data, message", [
    ({"saturation": {"max_kv": 1.5}}, "saturation.max_kv"),
    ({"queue": {"max_queue": "many"}}, "queue.max_queue"),
    ({"saturation": {"max_waitng": 3}}, "unknown key at saturation.max_waitng"),
])
def test_values_are_checked_and_placed(data, message):
    with pytest.raises(ValueError, match=message):
        parse_config(data)
