"""bench/overhead_profile.py: the A/B variants each run of the gateway gets as its environment."""

from __future__ import annotations

import argparse

from inference_gateway.bench import overhead_profile


def test_env_variants_keep_values_with_commas_and_compare_against_the_gateway_as_it_is():
    args = argparse.Namespace(what="env", settings=["GRPC_EXPERIMENTS=a,b", "X=1;Y=two=2"])
    assert overhead_profile._variants(args) == {
        "as is": {},
        "GRPC_EXPERIMENTS=a,b": {"GRPC_EXPERIMENTS": "a,b"},
        "X=1;Y=two=2": {"X": "1", "Y": "two=2"},
    }


def test_uvloop_variants_switch_the_event_loop_only():
    args = argparse.Namespace(what="uvloop", settings=[])
    assert overhead_profile._variants(args) == {"asyncio": {"IGW_ASYNCIO": "1"}, "uvloop": {"IGW_ASYNCIO": ""}}
