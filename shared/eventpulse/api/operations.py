"""Declaring a route is one decorator: its access, its models and the errors it can answer.

    bp = Operations("read", __name__, url_prefix="/api")

    @bp.operation("GET", "/ingestions/<ingestion_id>", access=VIEWER,
                  returns={200: IngestionDetail}, errors=(404,))
    def get_ingestion(path: IngestionPath) -> Response:
        ...

``path`` and ``query`` parameters are pydantic models (validated by flask-openapi3 before the view
runs); a JSON body is ``body=Model`` and reaches the view as ``body``. The declaration feeds both the
auth check (``api/auth.py``) and the OpenAPI document; a route declared any other way fails the auth
matrix test. 401/403/500 (and 400/413 for a body) are added from the access and the body.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar, get_type_hints

from flask import current_app, request
from flask_openapi3 import APIBlueprint, MediaType, RequestBody, Schema, Tag
from flask_openapi3.models.data_type import DataType
from flask_openapi3.utils import parse_body, parse_rule
from pydantic import BaseModel, ValidationError

from eventpulse.api.auth import declare_access
from eventpulse.api.resources import ErrorEnvelope
from eventpulse.api.roles import Access
from eventpulse.errors import BadRequest

F = TypeVar("F", bound=Callable[..., Any])
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Returns = Mapping[int, type[BaseModel] | dict[str, Any]]

JSON_BODY_MAX_BYTES = 64 * 1024
MODELS_ATTR = "_eventpulse_models"
BINARY_BODY = {"application/octet-stream": MediaType(schema=Schema(type=DataType.STRING, format="binary"))}
"""A file's exact bytes, streamed (never parsed or buffered by the library)."""


class Operations(APIBlueprint):
    """An APIBlueprint whose routes are declared with ``operation`` (access, models, errors)."""

    def __init__(self, name: str, import_name: str, **kwargs: Any) -> None:
        super().__init__(name, import_name, abp_tags=[Tag(name=name)], **kwargs)

    def operation(
        self,
        method: Method,
        rule: str,
        *,
        access: Access,
        returns: Returns,
        errors: Iterable[int] = (),
        body: type[BaseModel] | None = None,
        body_optional: bool = False,
        binary_body: bool = False,
        body_max_bytes: int = JSON_BODY_MAX_BYTES,
    ) -> Callable[[F], F]:
        """Register the decorated view for ``method rule`` and describe it in the OpenAPI document."""

        def decorator(view: F) -> F:
            target = (
                _with_json_body(view, body, optional=body_optional, max_bytes=body_max_bytes)
                if body
                else view
            )
            declare_access(target, access)
            setattr(target, MODELS_ATTR, _models_of(view))
            summary, description = _describe(view, access)
            register = getattr(APIBlueprint, method.lower())
            register(
                self,
                rule,
                summary=summary,
                description=description,
                operation_id=f"{self.name}_{view.__name__}",
                responses=build_responses(returns, errors, access, has_body=body is not None),
                security=build_security(access),
                openapi_extensions={"x-required-role": access.label, "x-task-token": access.task_token},
            )(target)
            if body is not None or binary_body:
                self._declare_request_body(method, rule, body, required=binary_body or not body_optional)
            return view

        return decorator

    def _declare_request_body(
        self, method: Method, rule: str, model: type[BaseModel] | None, *, required: bool
    ) -> None:
        if model is None:
            content = dict(BINARY_BODY)
        else:
            content, schemas = parse_body(model)
            self.components_schemas.update(schemas)
        operation = getattr(self.paths[parse_rule(rule, url_prefix=self.url_prefix)], method.lower())
        operation.requestBody = RequestBody(content=content, required=required)


def build_responses(
    returns: Returns, errors: Iterable[int], access: Access, *, has_body: bool
) -> dict[str, Any]:
    statuses = set(errors) | {500}
    if not access.public:
        statuses.add(401)
    if access.can_forbid:
        statuses.add(403)
    if access.device:
        statuses |= {403, 503}
    if has_body:
        statuses |= {400, 413}
    out: dict[Any, Any] = dict(returns)
    for status in sorted(statuses):
        out[status] = ErrorEnvelope
    return out


def build_security(access: Access) -> list[dict[str, list[str]]]:
    schemes: list[dict[str, list[str]]] = []
    if access.takes_bearer:
        schemes.append({"bearerAuth": []})
    if access.task_token:
        schemes.append({"taskToken": []})
    if access.device:
        schemes.append({"deviceToken": []})
    return schemes


def describe_access(access: Access) -> str:
    if access.public:
        return "Auth: none."
    if access.device:
        return "Auth: a device token (X-Device-Id + X-Device-Token, or a bearer device token)."
    if not access.takes_bearer:
        return "Auth: the task token in X-Task-Token (the dispatcher's machine credential)."
    task = ", or the task token in X-Task-Token" if access.task_token else ""
    return f"Auth: a bearer token with the `{access.role}` role or higher{task}."


def _describe(view: Callable[..., Any], access: Access) -> tuple[str, str]:
    lines = (inspect.getdoc(view) or view.__name__.replace("_", " ")).strip().splitlines()
    rest = "\n".join(lines[1:]).strip()
    return lines[0], "\n\n".join(part for part in (rest, describe_access(access)) if part)


def _models_of(view: Callable[..., Any]) -> dict[str, type[BaseModel]]:
    hints = get_type_hints(view)
    return {k: v for k, v in hints.items() if k in ("path", "query", "body") and isinstance(v, type)}


def _with_json_body(view: F, model: type[BaseModel], *, optional: bool, max_bytes: int) -> F:
    """The view, given ``body`` parsed from the JSON request body (the library never reads the body)."""

    @functools.wraps(view)
    def with_body(**kwargs: Any) -> Any:
        return view(**kwargs, body=load_json_body(model, optional=optional, max_bytes=max_bytes))

    # The library reads the signature for path and query models; the body is ours to read.
    with_body.__annotations__ = {k: v for k, v in get_type_hints(view).items() if k not in ("body", "return")}
    return with_body  # type: ignore[return-value]


def load_json_body(
    model: type[BaseModel], *, optional: bool, max_bytes: int = JSON_BODY_MAX_BYTES
) -> BaseModel:
    """Parse and validate the JSON body (64 KiB unless the route says; ``{}`` when empty and optional)."""
    request.max_content_length = max_bytes
    raw = request.get_data(cache=True)
    if not raw.strip():
        raw = b"{}" if optional else b"null"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise describe_validation_error(exc, model) from None


def describe_validation_error(exc: ValidationError, model: type[BaseModel] | None = None) -> BadRequest:
    """Our 400 for a pydantic error: the message names the parameter, the hint is its description."""
    first = exc.errors(include_url=False)[0]
    loc = [str(part) for part in first["loc"]]
    if not loc:
        return BadRequest(
            "the body must be a JSON object",
            hint="send Content-Type: application/json and a JSON object (see GET /api/openapi.json)",
            details={"reason": first["msg"]},
        )
    name = ".".join(loc)
    if first["type"] == "missing":
        message = f"{name} is required"
    elif first["type"] == "extra_forbidden":
        message = f"{name} is not a known field"
    else:
        message = f"{name}={_short(first.get('input'))} is not valid: {first['msg']}"
    field = model.model_fields.get(loc[0]) if model is not None else None
    hint = f"{loc[0]}: {field.description}" if field is not None and field.description else first["msg"]
    return BadRequest(message, hint=hint, details={"parameter": name})


def model_of_failed_request(exc: ValidationError) -> type[BaseModel] | None:
    """The path/query model of the current route that raised ``exc`` (found by its title)."""
    view = current_app.view_functions.get(request.endpoint or "")
    models: dict[str, type[BaseModel]] = getattr(view, MODELS_ATTR, {})
    return next((m for m in models.values() if m.__name__ == exc.title), None)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
