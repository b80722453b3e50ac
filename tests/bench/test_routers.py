"""`igw bench --routers` names: our gateway's scrape-interval variant (bench/routers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference_gateway.bench.routers import IgwGateway, igw_variant, make_routers


def test_plain_names_have_no_variant():
    assert igw_variant("igw-prefix-cache") == ("igw-prefix-cache", None)
    assert igw_variant("sglang-cache-aware") == ("sglang-cache-aware", None)


def test_scrape_variant_runs_igw_with_that_interval(tmp_path: Path):
    default, variant = make_routers(["igw-prefix-cache", "igw-prefix-cache:scrape=0.5"], {"m": "Critical"},
                                    tmp_path, tmp_path / "sglang-router")
    assert isinstance(variant, IgwGateway) and variant.strategy == "PREFIX_CACHE"
    assert variant.name == "igw-prefix-cache:scrape=0.5"
    assert variant.label == "igw PREFIX_CACHE, scrapes every 0.5 s"
    argv = variant.argv(tmp_path, None)
    assert argv[argv.index("--scrape-interval") + 1] == "0.5"
    assert "--scrape-interval" not in default.argv(tmp_path, None)


@pytest.mark.parametrize("name", ["igw-prefix-cache:scrape=0", "igw-prefix-cache:scrape=x",
                                  "igw-prefix-cache:scrape=nan", "igw-prefix-cache:every=1"])
def test_bad_variants_are_refused_with_the_form(name, tmp_path: Path):
    with pytest.raises(ValueError, match="a variant is igw-<strategy>:scrape=<seconds>"):
        make_routers([name], {"m": "Critical"}, tmp_path, tmp_path / "sglang-router")


@pytest.mark.parametrize("name", ["sglang-cache-aware:scrape=1", "igw-nonesuch:scrape=1"])
def test_a_variant_of_an_unknown_or_foreign_router_is_refused(name, tmp_path: Path):
    with pytest.raises(ValueError, match="known: igw-load-aware"):
        make_routers([name], {"m": "Critical"}, tmp_path, tmp_path / "sglang-router")
