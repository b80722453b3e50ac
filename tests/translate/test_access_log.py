"""`--envoy-access-log` (operator/translate/access_log.py): every listener logs a JSON line per
request when asked, to a file or to Envoy's standard output, and the real Envoy accepts both;
nothing is logged when not asked; the flag reaches the in-cluster operator's Envoys too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from inference_gateway.cli.cluster import cluster_settings
from inference_gateway.cli.main import build_parser
from inference_gateway.operator.envoy_process import envoy_binary
from inference_gateway.operator.manifests import load_documents
from inference_gateway.operator.translate import TranslateSettings, translate
from inference_gateway.operator.translate.access_log import FIELDS, FILE_LOG_TYPE, STDOUT_LOG_TYPE
from inference_gateway.operator.translate.bootstrap import static_bootstrap
from inference_gateway.operator.translate.envoy import EnvoySettings

TESTDATA = Path(__file__).parent / "testdata"


def _listeners(access_log: str | None):
    docs = [d for d in yaml.safe_load_all((TESTDATA / "seed-vllm-prefix-cache.in.yaml").read_text())
            if d and d.get("kind") != "TestInput"]
    objects, problems = load_documents(yaml.safe_dump_all(docs), "seed")
    assert not problems
    settings = TranslateSettings(envoy=EnvoySettings(access_log=access_log), shared_proxy=True, version=1)
    translation = translate(objects, settings)
    (resources,) = translation.envoy.values()
    return resources, settings


def _hcm(listener: dict) -> dict:
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def test_no_access_log_unless_asked():
    resources, _ = _listeners(None)
    assert resources.listeners and all("access_log" not in _hcm(lst) for lst in resources.listeners)


@pytest.mark.parametrize(("destination", "kind"), [("-", STDOUT_LOG_TYPE), ("/var/log/envoy/access.log", FILE_LOG_TYPE)])
def test_every_listener_logs_json_lines_with_the_ext_proc_times(destination, kind):
    resources, _ = _listeners(destination)
    for listener in resources.listeners:
        (entry,) = _hcm(listener)["access_log"]
        config = entry["typed_config"]
        assert config["@type"] == kind
        assert config.get("path") == (None if destination == "-" else destination)
        fields = config["log_format"]["json_format"]
        assert fields == FIELDS
        # the router's hop, as Envoy timed it, read from the filter our chain names ext_proc
        filters = [f["name"] for f in _hcm(listener)["http_filters"]]
        assert "envoy.filters.http.ext_proc" in filters
        assert fields["ext_proc_request_body_us"] == \
            "%FILTER_STATE(envoy.filters.http.ext_proc:FIELD:request_body_total_latency_us)%"


@pytest.mark.envoy
@pytest.mark.parametrize("destination", ["-", "access.log"])
def test_envoy_accepts_the_access_log(destination, tmp_path):
    resources, settings = _listeners(destination if destination == "-" else str(tmp_path / destination))
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(static_bootstrap(resources, admin_port=0, settings=settings.envoy)))
    result = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_flag_reaches_the_operators_envoys():
    args = build_parser().parse_args(["run", "--envoy-access-log", "-"])
    assert cluster_settings(args).envoy.access_log == "-"
    assert cluster_settings(build_parser().parse_args(["run"])).envoy.access_log is None
