"""The OpenAPI document as the service answers: every error a route can give, in its real shape.

FastAPI documents what a route declares. What every route shares is added here, from the route
itself, so the document cannot drift from the code:

- every route: 400 (NUL in the path or query: ``service.api.guard``); a request body: 400 (not
  UTF-8, a number too long), 413 (too large) and 422 (invalid);
- parameters that can be invalid: 422 (FastAPI's own 422 is dropped where every value fits,
  as for a plain string in the path); path parameters: 404 (no such thing, or another's);
- the API-key dependency (``Caller``): 401 (a 403 for a missing scope is the route's own
  declaration: some routes take any key of the authority); the public rate limit: 429;
- every route that takes a body: its size limit as ``x-max-body-bytes`` (``body_limit``; the
  README's route table is ``limits_table`` of this document, and a test keeps the two equal);
- every error response is ``application/problem+json`` with the ``ProblemOut`` schema (the one
  shape of ``service.api.errors``), unless the route declares another (OAuth's token errors).

The schemathesis run of ``tests/service/api/test_fuzz.py`` holds the document to the service:
an undeclared status or media type is a failure there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from service.api.deps import _authenticate, public_rate_limit
from service.api.errors import PROBLEM_JSON
from service.api.guard import BODY_METHODS, body_limit

__all__ = ["install_openapi", "limits_table"]

LIMIT_KEY = "x-max-body-bytes"

_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemOut"}
_GENERIC = ("HTTPValidationError", "ValidationError")
_DESCRIPTIONS = {
    "400": "请求无法解析（地址含 NUL、请求体非 UTF-8 或数字过长） / Not readable (NUL in the URL, "
    "body not UTF-8, a number too long)",
    "401": "缺少或无效的 API 密钥 / Missing or invalid API key",
    "403": "无此权限 / The key lacks the route's scope",
    "404": "未找到（或属于其他机关） / Not found (or another authority's)",
    "409": "与当前状态冲突 / Conflicts with the current state",
    "413": "请求体过大 / Body too large for this route",
    "422": "请求不合规，未作处理 / Invalid request; nothing was done",
    "429": "请求过于频繁 / Rate limited",
    "503": "链不可用 / The chain is unavailable",
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _can_be_invalid(operation: dict[str, Any]) -> bool:
    """Whether a request can fail validation: it has a body, a query or header parameter, or a
    path parameter that is not any string."""
    if "requestBody" in operation:
        return True
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") != "path" or schema.get("type") != "string" or len(schema) > 2:
            return True  # (a plain path string's schema is {type, title})
    return False


def _statuses(route: APIRoute, operation: dict[str, Any]) -> set[str]:
    """The error statuses every route of this kind can answer."""
    found: set[str] = {"400"}  # the request guard: NUL (%00) in the path or query
    if "requestBody" in operation:
        found |= {"400", "413", "422"}
    parameters = operation.get("parameters", [])
    if _can_be_invalid(operation):
        found.add("422")
    if any(p.get("in") == "path" for p in parameters):
        found.add("404")
    calls = set(_calls(route.dependant))
    if _authenticate in calls:
        found.add("401")  # (403 where a route checks a scope: the route declares it)
    if public_rate_limit in calls:
        found.add("429")
    return found


def _is_problem(response: dict[str, Any]) -> bool:
    """Whether a declared error response has no schema of its own (FastAPI's default one, a
    ProblemOut, or none)."""
    content = response.get("content")
    if not content:
        return True
    for media in content.values():
        ref = media.get("schema", {}).get("$ref", "")
        if ref and not ref.endswith(("/ProblemOut", *(f"/{g}" for g in _GENERIC))):
            return False
    return True


def _complete(schema: dict[str, Any], app: FastAPI, max_body: int, max_batch_body: int) -> None:
    # FastAPI keeps included routers wrapped; its own document walks them this way
    routes = {
        (context.path_format, method.lower()): context.original_route
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.methods or ()
    }
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            route = routes.get((path, method))
            if method.upper() in BODY_METHODS:
                operation[LIMIT_KEY] = body_limit(path, max_body, max_batch_body)
            responses = operation.setdefault("responses", {})
            if not _can_be_invalid(operation) and responses.get("422", {}).get("description") == (
                "Validation Error"
            ):
                del responses["422"]  # FastAPI's own, for parameters any string satisfies
            if route is not None:
                for status in _statuses(route, operation):
                    responses.setdefault(status, {"description": _DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status in ("400", "413"):
                    # the request guard answers these before the route, in the problem shape
                    response.setdefault("content", {})[PROBLEM_JSON] = {"schema": _PROBLEM_REF}
                if status[0] in "45" and _is_problem(response):
                    response["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
                    if status in _DESCRIPTIONS and response.get("description") in (
                        "Validation Error",
                        "",
                        None,
                    ):
                        response["description"] = _DESCRIPTIONS[status]
    components = schema.get("components", {}).get("schemas", {})
    text = repr(schema.get("paths", {}))
    for name in _GENERIC:
        if f"/{name}'" not in text:
            components.pop(name, None)


def install_openapi(app: FastAPI, *, max_body: int, max_batch_body: int) -> None:
    """Make ``app.openapi()`` return the completed document (built once, on first use);
    ``max_body`` and ``max_batch_body`` are the request guard's limits."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _complete(build(), app, max_body, max_batch_body)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _size(limit: int) -> str:
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if limit % factor == 0:
            return f"{limit // factor} {unit}"
    return f"{limit} bytes"


def limits_table(schema: dict[str, Any]) -> str:
    """Every route of ``schema`` with the largest body it takes, as a Markdown table (the
    README's); a route without a body method reads none."""
    rows = ["| Route | Body limit |", "|---|---|"]
    for path, item in sorted(schema.get("paths", {}).items()):
        for method, operation in item.items():
            limit = operation.get(LIMIT_KEY)
            shown = _size(limit) if limit is not None else "no body read"
            rows.append(f"| `{method.upper()} {path}` | {shown} |")
    return "\n".join(rows) + "\n"
