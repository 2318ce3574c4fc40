"""Schemathesis against the OpenAPI document: generated requests, fitting the schema and not, never get a
5xx, and every response matches the schema with a documented status and content type.

In-process over ASGI, signed in as the admin (so the admin-only import is reached too), with a bounded
number of examples per operation and mode. (schemathesis' own pytest plugin does not run on this pytest,
so each operation is a parametrized case driving its Hypothesis strategy.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from storage import migrate
from workflow import importer, plan
from workflow.web.server import create_app

from ..support import SMALL_PLAN, open_test_app
from .api_support import bearer, make_tokens

EXAMPLES = 20  # per operation and mode: ~30 operations × 2 modes in about half a minute
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


def _operations() -> list[tuple[str, str]]:
    spec = create_app(open_test_app("sqlite:///:memory:")).openapi()
    return [(method.upper(), path) for path, methods in spec["paths"].items() for method in methods]


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """The OpenAPI schema of the app over the small plan, and an admin's token."""
    db = tmp_path_factory.mktemp("schema") / "rectify.db"
    app = open_test_app(str(db))
    migrate.upgrade(app.engine)
    importer.import_plan(app, plan.load(SMALL_PLAN), SMALL_PLAN.name)
    token = make_tokens(app)["root"]
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(app, session_secret="tests")), token
    app.engine.dispose()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_gets_a_server_error_and_every_response_matches_the_schema(
        api_schema: tuple[Any, str], method: str, path: str, mode: GenerationMode) -> None:
    schema, token = api_schema
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        case.call_and_validate(headers=bearer(token), checks=CHECKS)

    try:
        call()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            pytest.skip("no request can break this operation's schema")
        raise


def test_every_operation_of_the_api_is_covered() -> None:
    assert len([p for _, p in OPERATIONS if p.startswith("/api/")]) >= 27
