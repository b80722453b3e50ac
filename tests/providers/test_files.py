"""The file provider reads manifests atomically (issue 14): a file that is blank or unparsable
while an editor rewrites it keeps its last good contents (with a warning); a file really
removed takes its objects with it. No timing: each step calls `load()` directly."""

from __future__ import annotations

from pathlib import Path

import structlog

from inference_gateway.operator.providers.files import FileProvider

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: pod-%d, labels: {app: a}}
status: {podIP: 127.3.0.%d, conditions: [{type: Ready, status: "True"}]}
"""


def _pods(n: int) -> str:
    return "---".join(PODS % (i, i + 1) for i in range(n))


def _names(objects) -> list[str]:
    return sorted(o.metadata.name for o in objects)


def test_a_blank_or_broken_file_keeps_its_last_good_contents_and_a_removed_file_removes(tmp_path: Path):
    pods, other = tmp_path / "pods.yaml", tmp_path / "other.yaml"
    pods.write_text(_pods(3))
    other.write_text(PODS % (9, 10))
    provider = FileProvider([tmp_path], apply=lambda objects: None)
    assert _names(provider.load()) == ["pod-0", "pod-1", "pod-2", "pod-9"]

    with structlog.testing.capture_logs() as logs:
        pods.write_text("")  # the editor truncated it
        assert _names(provider.load()) == ["pod-0", "pod-1", "pod-2", "pod-9"]
        pods.write_text("# comments only, the rest not written yet\n")
        assert _names(provider.load()) == ["pod-0", "pod-1", "pod-2", "pod-9"]
        pods.write_text(_pods(2)[:-12])  # cut inside a document: does not parse
        assert _names(provider.load()) == ["pod-0", "pod-1", "pod-2", "pod-9"]
    assert [e["log_level"] for e in logs] == ["warning", "warning", "error"]
    assert all(e["file"] == str(pods) for e in logs)

    pods.write_text(_pods(2))  # the save completes
    assert _names(provider.load()) == ["pod-0", "pod-1", "pod-9"]
    pods.unlink()  # really removed
    assert _names(provider.load()) == ["pod-9"]


def test_a_file_blank_from_the_start_is_just_empty(tmp_path: Path):
    (tmp_path / "empty.yaml").write_text("")
    provider = FileProvider([tmp_path], apply=lambda objects: None)
    assert provider.load() == [] and provider.problems == []
