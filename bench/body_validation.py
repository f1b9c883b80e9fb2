"""CPU of connexion's request-body validation for booking's `POST /internal/parent/cart/lines` (20
lines), with and without servicekit's compiled fast check (servicekit.fast_body), same run (issues 6, 8).

    .venv/bin/python bench/body_validation.py [--requests 2000] [--repeats 7]

1. The body validator alone: connexion's `JSONRequestBodyValidator._validate` (jsonschema, built on
   every request as connexion does) vs `FastJSONRequestBodyValidator._validate` (compiled check).
2. The whole request through servicekit's connexion stack, in process: booking's spec, a real
   service token, `asgi_guard`, routing, security, validation, parameters; the operation is a stub
   that returns `{}` (no database). A: the fast check turned off (`compile_body_check` -> None, the
   body validated as before), B: on. Rounds alternate A/B; the best of `--repeats` is printed
   (CPU time, `time.process_time`, per request).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "services" / "booking" / "booking" / "openapi.yaml"
PATH = "/internal/parent/cart/lines"
BODY = {"lines": [{"child_id": "child-1", "prestation_id": "presta-cantine-42",
                   "session_date": f"2026-09-{day:02d}", "action": "book"} for day in range(1, 21)]}
RAW = json.dumps(BODY).encode()
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"


def per_call(fn, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - started) / n * 1e6


def validator_alone(requests: int, repeats: int) -> tuple[float, float]:
    from connexion.spec import Specification
    from connexion.validators import JSONRequestBodyValidator

    from servicekit import fast_body

    schema = Specification.load(SPEC)["paths"][PATH]["post"]["requestBody"]["content"]["application/json"]["schema"]
    check = fast_body.compile_body_check(schema)
    assert check is not None
    options = dict(schema=schema, required=True, nullable=False, encoding="utf-8", strict_validation=True)
    before = lambda: JSONRequestBodyValidator(**options)._validate(json.loads(RAW))  # noqa: E731
    after = lambda: fast_body.FastJSONRequestBodyValidator(fast_check=check, **options)._validate(json.loads(RAW))  # noqa: E731
    a, b = [], []
    for _ in range(repeats):
        a.append(per_call(before, requests // 4))
        b.append(per_call(after, requests))
    return min(a), min(b)


def build_app(fast: bool):
    from connexion.resolver import Resolver

    from servicekit import api_stack, asgi_guard, fast_body, tokens, web

    compile_ = fast_body.compile_body_check

    async def stub(**_kwargs):
        return {}, 200, {"Content-Type": "application/json"}

    handler = web._service_token_handler("booking", SECRET)
    app = api_stack.AsyncApp("booking", security_map={"bearer": handler})
    asgi_guard.install(app)
    if not fast:
        fast_body.compile_body_check = lambda schema: None
    try:
        app.add_api(SPEC, resolver=Resolver(function_resolver=lambda _operation_id: stub), strict_validation=True,
                    validate_responses=False, pythonic_params=True)
        token = tokens.mint(tokens.Caller(sub="parent-1", role="parent", family_id="family-1"), "booking", SECRET)
        asyncio.run(one(app, token))  # operations are built (and their checks compiled) on first use
    finally:
        fast_body.compile_body_check = compile_
    return app, token


async def one(app, token: str) -> list[dict]:
    sent: list[dict] = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": PATH, "raw_path": PATH.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(RAW)).encode()), (b"authorization", f"Bearer {token}".encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}

    async def receive():
        return {"type": "http.request", "body": RAW, "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200, sent
    return sent


async def rounds(app, token, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        await one(app, token)
    return (time.process_time() - started) / requests * 1e6


def whole_request(requests: int, repeats: int) -> tuple[float, float]:
    (a_app, a_token), (b_app, b_token) = build_app(False), build_app(True)

    async def run():
        a, b = [], []
        for _ in range(repeats):
            a.append(await rounds(a_app, a_token, requests // 4))
            b.append(await rounds(b_app, b_token, requests // 4))
        return min(a), min(b)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    a, b = validator_alone(args.requests, args.repeats)
    print(f"body validation (json.loads + validate), 20 lines: connexion {a:.0f} µs, fast check {b:.1f} µs "
          f"({a / b:.0f}x)")
    a, b = whole_request(args.requests, args.repeats)
    print(f"whole request in process (stub operation): before {a:.0f} µs, after {b:.0f} µs CPU per request")


if __name__ == "__main__":
    main()
