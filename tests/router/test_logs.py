import io

from inference_gateway.router.logs import BatchedStream


def test_lines_are_written_in_batches_and_none_is_lost():
    out = io.StringIO()
    stream = BatchedStream(out, interval=3600.0, limit=10)
    stream.write("abc\n")
    stream.flush()  # structlog's per-line flush: deferred
    assert out.getvalue() == ""
    stream.write("defghijk\n")  # the limit is reached: written at once
    assert out.getvalue() == "abc\ndefghijk\n"
    stream.write("tail\n")
    stream.flush_now()  # what the flusher thread and exit do
    assert out.getvalue().endswith("tail\n")


def test_lines_are_one_json_object_each_and_what_json_cannot_hold_is_written_as_structlog_would():
    import json
    import time
    from pathlib import Path

    import structlog

    from inference_gateway.router.logs import configure
    from inference_gateway.router.table import Criticality

    class Custom:
        def __structlog__(self) -> str:
            return "custom-rendering"

    out = io.StringIO()
    try:
        configure("info", stream=out)
        log = structlog.get_logger("router")
        log.info("Request Handled", pod="vllm-0", criticality=Criticality.CRITICAL, decision_ms=0.25,
                 where=Path("/tmp/x"), custom=Custom(), text="naïve")
        log.debug("not at info")
        for _ in range(200):  # the batch is written by its flusher thread within 0.05 s
            if out.getvalue():
                break
            time.sleep(0.01)
    finally:
        configure("info")  # back to stdout for the tests after this one
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert list(line)[:7] == ["pod", "criticality", "decision_ms", "where", "custom", "text", "event"]
    assert line["event"] == "Request Handled" and line["level"] == "info" and line["ts"].endswith("Z")
    assert line["criticality"] == Criticality.CRITICAL.value and line["decision_ms"] == 0.25
    assert line["where"] == repr(Path("/tmp/x")) and line["custom"] == "custom-rendering"
    assert line["text"] == "naïve"
