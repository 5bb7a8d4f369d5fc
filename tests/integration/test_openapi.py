"""The OpenAPI document is generated from the routes: valid 3.1, complete, and in step with docs/API.md."""

from __future__ import annotations

import io
import re

import pytest
from openapi_spec_validator import validate

from eventpulse.api.app import create_app
from tests.conftest import REPO_ROOT
from tests.integration.api_support import AUTH, edge_csv

IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
SCHEMES = {
    "viewer": ["bearerAuth"],
    "operator": ["bearerAuth"],
    "admin": ["bearerAuth"],
    "task": [],
    "device": ["deviceToken"],
}
TABLE_ROW = re.compile(r"^\|\s*(GET|POST|PUT|PATCH|DELETE)\s*\|\s*`([^`]+)`\s*\|([^|]*)\|", re.MULTILINE)


@pytest.fixture
def app(services):  # type: ignore[no-untyped-def]
    return create_app(services)


@pytest.fixture
def document(app) -> dict:  # type: ignore[no-untyped-def]
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def operations(document: dict) -> dict[tuple[str, str], dict]:
    """(METHOD, Flask rule) -> operation; ``{id}`` path templates back to ``<id>``."""
    return {
        (method.upper(), re.sub(r"\{([^}]+)\}", r"<\1>", path)): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_the_document_is_valid_openapi_3_1_without_a_credential(document) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "taskToken", "deviceToken"}


def test_every_route_of_the_app_is_an_operation_and_nothing_else(app, document) -> None:
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - IMPLICIT_METHODS
    }
    assert set(operations(document)) == routes


def test_each_operation_declares_its_credential_role_and_the_error_envelope(document) -> None:
    for (method, rule), operation in operations(document).items():
        role = operation["x-required-role"]
        schemes = sorted(name for option in operation.get("security", []) for name in option)
        expected = (
            [] if role == "public" else SCHEMES[role] + (["taskToken"] if operation["x-task-token"] else [])
        )
        assert schemes == sorted(expected), (method, rule)
        assert "Auth:" in operation["description"], (method, rule)
        errors = {status: r for status, r in operation["responses"].items() if int(status) >= 400}
        assert "500" in errors and (role == "public" or "401" in errors), (method, rule)
        for status, response in errors.items():
            assert response["content"]["application/json"]["schema"] == ENVELOPE, (method, rule, status)


def test_the_upload_declares_a_streamed_binary_body(document) -> None:
    body = document["paths"]["/api/ingest/upload"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"] == {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def test_api_doc_lists_every_operation_with_its_role(document) -> None:
    text = (REPO_ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    rows = {(method, path): auth for method, path, auth in TABLE_ROW.findall(text)}
    for key, operation in operations(document).items():
        assert key in rows, f"docs/API.md has no endpoint row for {key}"
        role = operation["x-required-role"]
        label = "none" if role == "public" else role
        assert label in rows[key], f"docs/API.md row for {key} does not name {label!r}: {rows[key]!r}"


@pytest.mark.parametrize(
    "url, parameter",
    [
        ("/api/ingestions?limit=0", "limit"),
        ("/api/ingestions?offset=-1", "offset"),
        ("/api/audit_events?limit=abc", "limit"),
        ("/api/ingestions/not-a-uuid", "ingestion_id"),
    ],
)
def test_a_parameter_the_models_refuse_answers_400_in_our_envelope(app, url, parameter) -> None:
    response = app.test_client().get(url, headers=AUTH)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_request" and error["details"]["parameter"] == parameter
    assert error["message"].startswith(parameter) and error["hint"].startswith(f"{parameter}: ")
    assert error["details"]["request_id"] == response.headers["X-Request-Id"]


def test_a_missing_required_query_parameter_is_named(app) -> None:
    response = app.test_client().post("/api/ingest/upload?filename=a.csv", headers=AUTH, data=b"a\n")
    error = response.get_json()["error"]
    assert response.status_code == 400 and error["message"] == "dataset is required"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_answers_400_in_our_envelope(app, body) -> None:
    response = app.test_client().post(
        "/internal/admin/prune", data=body, headers={"X-Task-Token": "test-task-token-0123456789"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "the body must be a JSON object"


def test_a_json_body_over_64_kib_is_refused_with_413(app) -> None:
    note = "x" * (65 * 1024)
    response = app.test_client().post(
        f"/api/ingestions/{'0' * 8}-0000-4000-8000-{'0' * 12}/approve", json={"note": note}, headers=AUTH
    )
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"


class CountingReader(io.BytesIO):
    """A WSGI input that records the size of every read, to show the body is consumed in chunks."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.reads.append(len(chunk))
        return chunk

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def,override]
        n = super().readinto(buffer)
        self.reads.append(n)
        return n


def test_the_upload_body_is_streamed_not_buffered(app, tmp_path) -> None:
    row = edge_csv(tmp_path, rows=40_000).read_bytes()
    reader = CountingReader(row)
    response = app.test_client().post(
        "/api/ingest/upload",
        query_string={"dataset": "edge_telemetry", "filename": "big.csv"},
        input_stream=reader,
        headers={**AUTH, "Content-Type": "application/octet-stream", "Content-Length": str(len(row))},
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["size_bytes"] == len(row)
    assert max(reader.reads) < len(row) and len([r for r in reader.reads if r]) > 1
