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
