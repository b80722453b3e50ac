"""A seeded fuzzer through the real Envoy, router and simulated pods: bodies, headers, methods,
paths and raw malformed HTTP. A client error never gets a 5xx, every error answer is JSON, and
normal requests still succeed afterwards."""

from __future__ import annotations

import asyncio
import collections
import json
import random
from dataclasses import dataclass

import pytest

from inference_gateway.operator.translate.edge_limits import EdgeLimits

from support.edge import MODEL, Answer, edge_gateway, exchange, http_request

pytestmark = pytest.mark.envoy

SEED = 1414
CHAT = "/v1/chat/completions"
VALID = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}

# Field → values the OpenAI API refuses (type or range).
BAD_FIELDS: dict[str, list] = {
    "model": [None, 3, "", "a\r\nb", "a\x00b", "x" * 70_000, ["m"], {"a": 1}, "\ud800", True],
    "messages": [[], [1, 2], "hi", [{"role": 5}], [{"content": "x"}], [{"role": "user", "content": 5}],
                 [{"role": "user", "content": [1]}], [{"role": "user", "content": [{"type": "text", "text": 3}]}],
                 None, {"role": "user"}],
    "stream": ["false", 1, "yes", [], {}],
    "stream_options": ["yes", [], {"include_usage": "yes"}, 5],
    "max_tokens": [0, -1, 1.5, "10", True, 10**30],
    "max_completion_tokens": [0, "x"],
    "n": [0, 129, "2", -3],
    "temperature": [-1, 3, "hot", True, [0.5]],
    "top_p": [2, -0.1, "1"],
    "presence_penalty": [3, "no"],
    "frequency_penalty": [-3],
    "logprobs": ["yes", -1],
    "top_logprobs": [21, -1],
    "stop": [5, [1], {"a": "b"}],
    "seed": ["x", 1.5],
    "user": [5],
    "logit_bias": ["x", {"1": "a"}],
    "tools": ["x", [1]],
    "prompt": [{"a": 1}, [[["x"]]], 5, True],
}
METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO"]
PATHS = ["/v1/chat/completions?x=1", "//v1//chat//completions", "/v1/./chat/../chat/completions",
         "/v1%2Fchat/completions", "/v1/chat%2fcompletions", "/v1/nope", "/", "/admin", "/nothing/here",
         "/v1/chat/completions/" + "a" * 5000, "/%00", "/v1/%ZZ", "/v1/chat/completions#frag",
         "/v1/\u00e9t\u00e9", "http://evil.example/v1/chat/completions", "*", "/../../etc/passwd",
         "/v1/chat/completions;param", "/" + "x/" * 300]


@dataclass
class Case:
    name: str
    raw: bytes
    expect_ok: bool = False    # a valid request: must be 200
    head: bool = False         # HEAD: no body to check


def body_cases(rng: random.Random) -> list[Case]:
    cases = []
    for field, values in BAD_FIELDS.items():
        for value in values:
            body = dict(VALID)
            if field == "prompt":
                body.pop("messages")
            body[field] = value
            raw = json.dumps(body).encode()  # ensure_ascii: a lone surrogate travels as \ud800
            cases.append(Case(f"field {field}={str(value)[:20]!r}", http_request("POST", CHAT, raw)))
    valid = json.dumps(VALID).encode()
    for i in range(40):  # truncated and corrupted JSON
        cut = rng.randrange(1, len(valid) - 1)
        cases.append(Case(f"truncated at {cut}", http_request("POST", CHAT, valid[:cut])))
        pos = rng.randrange(len(valid))
        corrupt = valid[:pos] + bytes([rng.choice(b"{}[]:,\"\\\x00\xff\xc3")]) + valid[pos + 1:]
        cases.append(Case(f"corrupted at {pos}", http_request("POST", CHAT, corrupt)))
    for depth in (65, 200, 999, 1000, 5000, 100_000):
        nested = b'{"model": "m", "x": ' + b"[" * depth + b"]" * depth + b"}"
        cases.append(Case(f"nested {depth}", http_request("POST", CHAT, nested)))
        cases.append(Case(f"nested {depth} objects", http_request("POST", CHAT, b'{"model": "m", "x": ' +
                                                                  b'{"a":' * depth + b"1" + b"}" * depth + b"}")))
    for raw in (b"", b"null", b"[]", b"3", b'"text"', b"\xef\xbb\xbf" + valid, b"\xff\xfe\x00", b'{"model": NaN}',
                b'{"model": "m", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}',
                bytes(rng.randrange(256) for _ in range(300)), b'{"model": "m"' + b" " * 10_000):
        cases.append(Case(f"body {raw[:12]!r}", http_request("POST", CHAT, raw)))
    for i in range(30):  # random JSON values of random types in random fields
        body = dict(VALID)
        body[rng.choice(list(BAD_FIELDS))] = rng.choice([rng.random() * 1e9, -rng.randrange(10**6), "", "\x07",
                                                         [None] * rng.randrange(5), {"k": [1, {"x": None}]}])
        cases.append(Case(f"random value {i}", http_request("POST", CHAT, json.dumps(body).encode())))
    return cases


def header_cases() -> list[Case]:
    valid = json.dumps(VALID).encode()
    c = [
        Case("header 70 KiB", http_request("POST", CHAT, valid, {"x-big": "a" * 70_000})),
        Case("200 headers", http_request("POST", CHAT, valid, {f"x-h{i}": "v" for i in range(200)})),
        Case("spoofed destination", http_request("POST", CHAT, valid, {"x-gateway-destination-endpoint": "127.0.0.1:1"}),
             expect_ok=True),
        Case("spoofed model header", http_request("POST", CHAT, valid, {"x-gateway-model-name": "other"}),
             expect_ok=True),
        Case("text/plain body", http_request("POST", CHAT, valid, {"content-type": "text/plain"}), expect_ok=True),
        Case("header with underscore", http_request("POST", CHAT, valid, {"x_under": "1"}), expect_ok=True),
        Case("NUL in header", http_request("POST", CHAT, valid, {"x-a": "b\x00c"})),
        Case("non-latin header", http_request("POST", CHAT, valid, {"x-a": "\u00ff\u00fe"})),
        Case("header without colon", http_request("POST", CHAT, valid)[:-len(valid) - 2] + b"broken\r\n\r\n" + valid),
        Case("obs-fold", http_request("POST", CHAT, valid)[:-len(valid) - 2] + b"x-a: b\r\n c\r\n\r\n" + valid),
        Case("content-length and chunked", b"POST " + CHAT.encode() + b" HTTP/1.1\r\nhost: g\r\nconnection: close\r\n"
             b"content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"),
        Case("bad chunk size", b"POST " + CHAT.encode() + b" HTTP/1.1\r\nhost: g\r\nconnection: close\r\n"
             b"transfer-encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n"),
        Case("valid chunked", b"POST " + CHAT.encode() + b" HTTP/1.1\r\nhost: g\r\nconnection: close\r\n"
             b"transfer-encoding: chunked\r\n\r\n" + f"{len(valid):x}".encode() + b"\r\n" + valid + b"\r\n0\r\n\r\n",
             expect_ok=True),
        Case("negative content-length", b"POST " + CHAT.encode() + b" HTTP/1.1\r\nhost: g\r\ncontent-length: -5\r\n\r\n"),
        Case("two content-lengths", b"POST " + CHAT.encode() + b" HTTP/1.1\r\nhost: g\r\ncontent-length: 2\r\n"
             b"content-length: 3\r\n\r\n{}"),
        Case("no host", b"POST " + CHAT.encode() + b" HTTP/1.1\r\nconnection: close\r\ncontent-length: "
             + str(len(valid)).encode() + b"\r\n\r\n" + valid),
        Case("expect 100-continue", http_request("POST", CHAT, valid, {"expect": "100-continue"}), expect_ok=True),
        Case("content-length too short", http_request("POST", CHAT, valid)[:-len(valid)] + valid[:-5]),
    ]
    return c


def raw_cases(rng: random.Random) -> list[Case]:
    cases = [Case(f"raw {r[:16]!r}", r) for r in (
        b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET / HTTP/1.1\r\n", b"\r\n\r\n", b"GET\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00" * 30, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nhost: g\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.0\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
        b"GET / HTTP/1.1\r\nhost: g\r\nx: \x01\x02\r\n\r\n", b"G\x00T / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: g\r\n" + b"x-a: b\r\n" * 500 + b"\r\n")]
    for i in range(20):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        cases.append(Case(f"raw random {i}", junk + b"\r\n\r\n"))
    return cases


def method_and_path_cases() -> list[Case]:
    valid = json.dumps(VALID).encode()
    cases = [Case(f"{m} {CHAT}", http_request(m, CHAT, valid if m not in ("GET", "HEAD") else None), head=m == "HEAD")
             for m in METHODS]
    cases += [Case(f"GET {p[:30]}", http_request("GET", p)) for p in PATHS]
    cases += [Case(f"POST {p[:30]}", http_request("POST", p, valid)) for p in PATHS]
    cases.append(Case("GET /v1/models", http_request("GET", "/v1/models"), expect_ok=True))
    return cases


def all_cases() -> list[Case]:
    rng = random.Random(SEED)
    cases = body_cases(rng) + header_cases() + raw_cases(rng) + method_and_path_cases()
    cases += [Case(f"valid {i}", http_request("POST", CHAT, json.dumps(VALID).encode()), expect_ok=True)
              for i in range(10)]
    rng.shuffle(cases)
    return cases


def judge(case: Case, answer: Answer) -> str | None:
    """Why an answer is wrong, or None."""
    if case.expect_ok:
        return None if answer.status == 200 else f"expected 200, got {answer.status} {answer.body[:200]!r}"
    if answer.status >= 500:
        return f"a client error answered {answer.status}: {answer.body[:200]!r}"
    if answer.status < 400 or case.head:
        return None
    try:
        body = answer.json()
    except ValueError:
        return f"{answer.status} without a JSON body: {answer.body[:200]!r}"
    # The gateway's own errors (router, Envoy) carry OpenAI's shape; a pod's refusal of a path
    # or method carries FastAPI's {"detail": ...}, as vLLM and SGLang answer.
    ok = isinstance(body, dict) and (isinstance(body.get("error"), dict) and "message" in body["error"]
                                     or "detail" in body)
    return None if ok else f"{answer.status} JSON without an error: {body!r:.200}"


async def test_fuzzer_gets_4xx_json_for_every_client_error_and_normal_requests_still_work(tmp_path):
    cases = all_cases()
    assert len(cases) >= 300
    # Short request timeouts so that incomplete requests end within the test.
    limits = EdgeLimits(request_headers_timeout_s=2, request_timeout_s=3)
    async with edge_gateway(tmp_path, "127.4.2", limits) as gw:
        sem = asyncio.Semaphore(16)

        async def run(case: Case) -> tuple[Case, Answer]:
            async with sem:
                return case, await exchange(gw.host, gw.port, case.raw)

        results = await asyncio.gather(*(run(c) for c in cases))
        problems = [f"{case.name}: {why}" for case, answer in results if (why := judge(case, answer))]
        answered = [a for _, a in results if a.status]
        statuses = sorted({a.status for a in answered})
        print(f"{len(cases)} cases, {len(answered)} answered, statuses {collections.Counter(a.status for a in answered)}")
        # Afterwards, normal requests still succeed (streaming too).
        after = [await exchange(gw.host, gw.port, http_request("POST", CHAT, json.dumps(
            {**VALID, "stream": i % 2 == 0}).encode())) for i in range(6)]
    assert not problems, "\n".join(problems[:40])
    assert len(answered) >= 0.9 * len(cases), f"only {len(answered)} of {len(cases)} cases got an answer"
    assert {400, 404, 431} <= set(statuses), statuses  # the router, the pods and Envoy each refused some
    assert [a.status for a in after] == [200] * 6
