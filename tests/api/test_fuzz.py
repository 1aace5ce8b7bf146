"""Schema fuzzing: schemathesis generates requests for every route of the running service's
OpenAPI document — valid and invalid bodies, parameters and headers — with a valid API key
and with none, a bounded number per route. No response may be a 5xx, every response must
match the documented status codes, content types and schemas, and every error must be
problem+json.

The service is the real app (default policy, the SQLite online state, no models) on a real
socket; the examples are derandomised, so a failure reproduces.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from tests.faults.servers import UvicornThread
from triage.keys import create_key
from triage.settings import Settings

EXAMPLES_PER_ROUTE = 5  # per route, per mode (valid / invalid data) and per key case
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class Running:
    base: str
    key: str


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "no-bundles").mkdir()
    s = Settings(home=tmp / "home", bundle_dir=tmp / "no-bundles", max_batch_items=20, max_body_bytes=200_000)
    key = create_key(s, "fuzz", "decide,outcomes,read,admin,review")
    with UvicornThread(create_app(s)) as server:
        yield Running(server.base, key)


def _check(case, running: Running, headers: dict[str, str], seen: Counter[int]) -> None:
    response = case.call_and_validate(base_url=running.base, headers=headers, checks=CHECKS)
    seen[response.status_code] += 1
    if response.status_code >= 400:
        ctype = (response.headers.get("content-type") or [""])[0]  # schemathesis keeps each header as a list
        assert ctype.startswith("application/problem+json"), (
            f"{case.method} {case.formatted_path} -> {response.status_code} {ctype}")
        body = response.json()
        assert body["status"] == response.status_code and body["detail"]


def _fuzz(running: Running, headers: dict[str, str]) -> None:
    """Every operation, valid then invalid data, EXAMPLES_PER_ROUTE cases each; all failures
    listed at the end (schemathesis' pytest loader does not run under pytest 9: its own
    strategies under hypothesis' `given` instead)."""
    api = schemathesis.openapi.from_url(f"{running.base}/openapi.json")
    failures: list[str] = []
    seen: Counter[int] = Counter()
    operations = 0
    for result in api.get_all_operations():
        op = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
            def run(case) -> None:
                _check(case, running, headers, seen)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to make invalid (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together
                failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {type(exc).__name__}: "
                                f"{str(exc)[:1500]}")
    print(f"\nfuzzed {operations} operations, {sum(seen.values())} requests: statuses {dict(sorted(seen.items()))}")
    assert operations >= 10, f"only {operations} operations in the OpenAPI document"
    assert not failures, "\n\n".join(failures)


def test_fuzzed_requests_with_a_valid_key_get_no_5xx_and_documented_problem_json_errors(running):
    _fuzz(running, {"X-API-Key": running.key})


def test_fuzzed_requests_without_a_key_get_no_5xx_and_documented_problem_json_errors(running):
    _fuzz(running, {})
