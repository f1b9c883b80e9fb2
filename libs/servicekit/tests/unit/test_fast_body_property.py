"""servicekit.fast_body on our real request body schemas: whatever the compiled check accepts,
connexion's Draft4RequestValidator (with jsonschema's draft 4 format checker) accepts too.

Bodies are drawn near each schema (mostly conforming, each node sometimes replaced by an arbitrary
or tricky JSON value, required keys dropped, unknown keys added) and go through a JSON round trip
as a request body does. `FAST_BODY_EXAMPLES=300` for a longer run (default 40 per schema)."""
import json
import math
import os
from pathlib import Path

import pytest
from connexion.json_schema import Draft4RequestValidator
from connexion.spec import Specification
from hypothesis import HealthCheck, find, given, settings, strategies as st
from jsonschema import Draft4Validator

from servicekit import fast_body

ROOT = Path(__file__).resolve().parents[4]
SPECS = {name: ROOT / "services" / path for name, path in {
    "booking": "booking/booking/openapi.yaml", "requests": "requests/demandes/openapi.yaml",
    "identity": "identity/identity/openapi.yaml", "billing": "billing/billing/openapi.yaml",
    "notify": "notify/notify/openapi.yaml"}.items()}


def body_schemas():
    for service, path in SPECS.items():
        if not path.exists():
            continue
        spec = Specification.load(path)
        for route, item in spec["paths"].items():
            for method, op in item.items():
                content = op.get("requestBody", {}).get("content", {}) if isinstance(op, dict) else {}
                schema = content.get("application/json", {}).get("schema")
                if schema:  # as connexion's operation gives it (OpenAPIOperation.with_definitions)
                    schema = {**schema, "components": spec["components"]} if spec.get("components") else schema
                    yield pytest.param(schema, id=f"{service} {method.upper()} {route}")


SCHEMAS = list(body_schemas())
EXAMPLES = int(os.environ.get("FAST_BODY_EXAMPLES", "40"))  # per schema; FAST_BODY_EXAMPLES=300 for the proof run

SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=8))
ANY_JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                        max_leaves=6)
TRICKY = st.sampled_from([None, True, False, 0, 1, -1, 1.0, 2.5, 0.0, 10**20, float("nan"), float("inf"), "", " ", "a",
                          "\n", "True", "null", "1", "2026-09-01", "2026-09-01\n", "2026-13-45", "x@y", "@", "1.2.3.4",
                          [], [None], {}, {"": None}])


def _types(schema):
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else ["string", "integer", "object", "array", "boolean"]
    return kinds + (["null"] if schema.get("nullable") else [])


def _merged(schemas):
    out: dict = {}
    for sub in schemas:
        for key, value in sub.items():
            if key == "properties":
                out.setdefault("properties", {}).update(value)
            elif key == "required":
                out["required"] = sorted(set(out.get("required", [])) | set(value))
            else:
                out.setdefault(key, value)
    return out


def _string(schema):
    low, high = schema.get("minLength", 0), schema.get("maxLength", 20)
    options = [st.text(min_size=low, max_size=min(high, low + 20))]
    if "pattern" in schema:
        options.append(st.from_regex(schema["pattern"]))  # may end with "\n" where `$` allows it
    if schema.get("format") == "date":
        options.append(st.dates().map(lambda d: d.isoformat()))
    if schema.get("format") == "date-time":
        options.append(st.datetimes().map(lambda d: d.isoformat()))
    return st.one_of(options)


def _number(schema, integer):
    low, high = schema.get("minimum"), schema.get("maximum")
    edges = [v for v in (low, high) if v is not None]
    edges += [v + d for v in edges for d in (-1, 1)]
    ints = st.integers(min_value=None if low is None else math.ceil(low),
                       max_value=None if high is None else math.floor(high))
    options = [ints, ints.map(float), st.sampled_from(edges or [0])]
    if not integer:
        options.append(st.floats(min_value=low, max_value=high))
    return st.one_of(options)


def conforming(schema):
    """Values built to the schema's shape, not always valid (lengths, patterns, edges)."""
    if "allOf" in schema:
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return conforming(_merged([rest, *schema["allOf"]]))
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return st.one_of([near(_merged([{k: v for k, v in schema.items() if k != key}, sub])) for sub in schema[key]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"] + ([None] if schema.get("nullable") else []))
    options = []
    for kind in _types(schema):
        if kind == "string":
            options.append(_string(schema))
        elif kind in ("integer", "number"):
            options.append(_number(schema, kind == "integer"))
        elif kind == "boolean":
            options.append(st.booleans())
        elif kind == "null":
            options.append(st.none())
        elif kind == "array":
            low = schema.get("minItems", 0)
            options.append(st.lists(near(schema.get("items", {})), min_size=low,
                                    max_size=min(schema.get("maxItems", low + 4), low + 4)))
        elif kind == "object":
            options.append(_object(schema))
    return st.one_of(options)


def _object(schema):
    properties = {name: near(sub) for name, sub in schema.get("properties", {}).items()}
    required = [name for name in schema.get("required", []) if name in properties]
    optional = {name: sub for name, sub in properties.items() if name not in required}
    exact = st.fixed_dictionaries({name: properties[name] for name in required}, optional=optional)
    loose = st.fixed_dictionaries({}, optional=properties)  # required keys may be missing
    extra = st.dictionaries(st.text(max_size=6), ANY_JSON, max_size=2)
    return st.tuples(st.one_of(exact, exact, loose), st.one_of(st.just({}), st.just({}), extra)).map(
        lambda both: {**both[1], **both[0]})


def near(schema):
    """Mostly `conforming`, sometimes a tricky or an arbitrary JSON value instead."""
    return st.integers(0, 11).flatmap(
        lambda k: conforming(schema) if k < 9 else TRICKY if k < 11 else ANY_JSON)


def as_received(value):
    return json.loads(json.dumps(value))  # what connexion's parser hands the validators


def connexion_accepts(schema, body) -> bool:
    return Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER).is_valid(body)


def fast_accepts(check, body) -> bool:
    try:
        check(body)
    except Exception:  # noqa: BLE001 - any no sends the body to connexion
        return False
    return True


def test_our_specs_have_body_schemas_and_all_compile():
    assert len(SCHEMAS) > 30
    uncompiled = [p.id for p in SCHEMAS if fast_body.compile_body_check(p.values[0]) is None]
    assert uncompiled == []


@pytest.mark.parametrize("schema", SCHEMAS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_what_the_fast_check_accepts_connexion_accepts(schema, data):
    check = fast_body.compile_body_check(schema)
    body = as_received(data.draw(near(schema)))
    if fast_accepts(check, body):
        assert connexion_accepts(schema, body), body


@pytest.mark.parametrize("schema", [p for p in SCHEMAS if any(k in p.id for k in (
    "POST /internal/parent/cart/lines", "POST /internal/me/requests",
    "POST /internal/agent/categories", "identity"))])
def test_the_fast_check_accepts_valid_bodies(schema):
    """Not a vacuous property: bodies drawn near the schema do take the fast path."""
    check = fast_body.compile_body_check(schema)
    body = find(conforming(schema).map(as_received), lambda b: fast_accepts(check, b),
                settings=settings(max_examples=2000, deadline=None, database=None,
                                  suppress_health_check=list(HealthCheck)))
    assert connexion_accepts(schema, body)
