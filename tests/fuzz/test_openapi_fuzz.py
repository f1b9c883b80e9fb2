"""Every operation of every API, fuzzed against its own OpenAPI document (schemathesis).

One test per (app, OpenAPI document) it serves, one sub-test per operation. Each operation gets
schemathesis's example, coverage (boundaries, missing/extra parameters, unsupported methods) and
fuzzing phases, positive and negative data, as an agent, a parent, another commune's agent or
nobody (see fuzzkit). A run fails on any 5xx, any response that breaks its schema, any status
or content type the document does not declare, a negative case accepted, an operation that
ignores its authentication, or a 405 without the right `Allow`.

Budget: FUZZ_MAX_EXAMPLES (default 12) generated examples per operation and mode; the run is
deterministic unless FUZZ_RANDOM=1 (then every run explores new inputs).
"""
from __future__ import annotations

import os
import re

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

import fuzzkit

CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
    response_headers_conformance, negative_data_rejection, ignored_auth, unsupported_method,
    allow_header_conformance, missing_required_header,
]
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "12"))
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,  # the machine is shared: time is bounded by the number of examples instead
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


def _slug(text: str) -> str:
    text = text.split("—")[-1]
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40]


def _make_test(target: fuzzkit.Target, api: fuzzkit.Api):
    schema = schemathesis.openapi.from_dict(api.raw)
    schema.app = target.app
    concrete_paths = {path for path in api.raw.get("paths") or {} if "{" not in path}

    @schema.parametrize()
    @HYPOTHESIS
    def test(case, fuzz_platform):
        caller = target.caller_for(case)
        target.with_known_values(case)
        if case.path not in concrete_paths and case.formatted_path in concrete_paths:
            # A parameter spelling a concrete sibling (`pending` in `/me/requests/{request_id}`)
            # addresses that path's operation: OpenAPI matches the concrete path first (the 405
            # the guard then answers is tested in libs/servicekit). Which values Hypothesis draws
            # shifts with any change to the code under test (it mines the code's constants).
            return
        response = case.call(headers=target.headers_for(caller, case))
        fuzzkit.record_response(target.name, response.status_code)
        case.validate_response(response, checks=CHECKS)

    test.__doc__ = f"{target.name}: {api.title}"
    return test


for _target in fuzzkit.platform().targets:
    for _api in _target.apis:
        globals()[f"test_{_target.name}__{_slug(_api.title)}"] = _make_test(_target, _api)
