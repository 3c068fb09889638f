"""The one place where errors become HTTP responses: RFC 9457 problem details in 中文 and English.

Every error answer has the media type ``application/problem+json`` and the members ``type``,
``title``, ``status``, ``code`` (a stable snake_case string) and ``detail`` (中文 / English);
validation problems add ``errors: [{path, code, zh, en}]``. ``service.api.guard`` answers in the
same shape for bodies it refuses (413, 400, 422) before any route runs.

======================================  ======  =====================================
raised                                  status  problem type
======================================  ======  =====================================
``Problem`` (routes and dependencies)   any     as given
``RequestValidationError`` (bodies)     422     ``urn:suixin:problem:validation``
``InvalidCredential``                   422     ``urn:suixin:problem:validation``
``InvalidInput``                        422     ``urn:suixin:problem:invalid-input``
``NotFound``                            404     ``urn:suixin:problem:not-found``
``IdempotencyConflict``                 409     ``urn:suixin:problem:idempotency-conflict``
``CredentialInForce``                   409     ``urn:suixin:problem:credential-in-force``
``LifecycleError`` (life-cycle step)    409     ``urn:suixin:problem:<code>``, with ``code``
                                                (``credential-not-current``,
                                                ``endorsement-not-due``, …) and its facts
``GrantError`` (authorised use)         401/    ``urn:suixin:problem:grant-<code>``, with
                                        403/    ``code`` (``request_replayed``,
                                        404/    ``grant_expired``, …): unauthenticated,
                                        422     forbidden, not found, invalid terms
``ChainUnavailable``                    503     ``urn:suixin:problem:chain-unavailable``
``ChainMismatch``                       503     ``urn:suixin:problem:chain-mismatch``
``ChainError`` (other)                  502     ``urn:suixin:problem:chain-error``
``SuixinError`` (other)                 500     ``urn:suixin:problem:internal``
Starlette ``HTTPException`` (404, 405)  same    ``about:blank``
any other exception (a bug)             500     ``urn:suixin:problem:internal``
======================================  ======  =====================================

Details never carry submitted values (citizen ID numbers, keys): only paths, codes and reasons.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.issuing.office import CredentialInForce, IdempotencyConflict, NotFound
from service.lifecycle import LifecycleError
from service.wallet.grants import (
    GrantError,
    GrantForbidden,
    GrantInvalid,
    GrantNotFound,
    RequestUnauthenticated,
)
from verifier.counter.core import CounterError
from verifier.errors import (
    ChainError,
    ChainMismatch,
    ChainUnavailable,
    FieldError,
    InvalidCredential,
    InvalidInput,
    SuixinError,
)

__all__ = [
    "PROBLEM_JSON",
    "Problem",
    "field_errors_from_pydantic",
    "install_error_handlers",
    "problem_response",
]

PROBLEM_JSON = "application/problem+json"
_TYPE = "urn:suixin:problem:"
log = logging.getLogger("suixin.api")


class Problem(Exception):
    """An HTTP problem raised by a route or a dependency (RFC 9457)."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def problem_response(problem: Problem) -> JSONResponse:
    """The JSON response of a problem."""
    body: dict[str, Any] = {
        "type": problem.slug if ":" in problem.slug else _TYPE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "code": _code_of(problem),
        "detail": problem.detail,
    }
    if problem.errors:
        body["errors"] = [e.as_dict() for e in problem.errors]
    body.update(problem.extra)
    return JSONResponse(
        body, status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON
    )


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal",
    502: "chain_error",
    503: "unavailable",
}


def _code_of(problem: Problem) -> str:
    """The problem's stable code: the one it names, else one made from its type, else from
    its status."""
    named = problem.extra.get("code")
    if isinstance(named, str) and named:
        return named
    if problem.slug and ":" not in problem.slug:
        return problem.slug.replace("-", "_")
    return _STATUS_CODES.get(problem.status, f"http_{problem.status}")


def validation_problem(errors: Sequence[FieldError]) -> Problem:
    """The 422 problem of a request whose fields break their rules (nothing was done)."""
    n = len(errors)
    return Problem(
        422,
        "validation",
        "请求内容不合规 / Validation failed",
        f"{n} 处不合规，请按 errors 逐项更正，未作任何处理 / "
        f"{n} error(s); nothing was done, correct each entry in errors",
        errors=errors,
        extra={"code": "validation_failed"},
    )


# --------------------------------------------------------------------------- pydantic errors

_PYDANTIC_REASONS: dict[str, tuple[str, str, str]] = {
    # pydantic error type → (stable code, 中文, English)
    "missing": ("field_required", "缺少必填项", "This field is required"),
    "extra_forbidden": ("field_unknown", "不认识的字段，请删除", "Unknown field; remove it"),
    "literal_error": ("value_not_allowed", "取值不在允许范围内", "Value not allowed"),
    "enum": ("value_not_allowed", "取值不在允许范围内", "Value not allowed"),
    "dict_type": ("field_type", "应为 JSON 对象", "Expected a JSON object"),
    "model_type": ("field_type", "应为 JSON 对象", "Expected a JSON object"),
    "model_attributes_type": ("field_type", "应为 JSON 对象", "Expected a JSON object"),
    "list_type": ("field_type", "应为 JSON 数组", "Expected a JSON array"),
    "string_type": ("field_type", "应为字符串", "Expected a string"),
    "datetime_type": ("datetime_format", "应为 ISO 8601 日期时间", "Expected an ISO 8601 time"),
    "datetime_parsing": (
        "datetime_format",
        "应为 ISO 8601 日期时间，如 2026-11-21T00:00:00Z",
        "Expected an ISO 8601 date-time such as 2026-11-21T00:00:00Z",
    ),
    "datetime_from_date_parsing": (
        "datetime_format",
        "应为 ISO 8601 日期时间，如 2026-11-21T00:00:00Z",
        "Expected an ISO 8601 date-time such as 2026-11-21T00:00:00Z",
    ),
    "timezone_aware": (
        "timezone_required",
        "日期时间须带时区（如 Z 或 +08:00）",
        "The date-time needs a time zone (such as Z or +08:00)",
    ),
    "field_datetime_invalid": (
        "field_datetime_invalid",
        "应为 RFC 3339 日期时间字符串且带时区，如 2026-11-21T00:00:00+08:00",
        "Expected an RFC 3339 date-time string with an offset, such as 2026-11-21T00:00:00+08:00",
    ),
    "field_datetime_out_of_range": (
        "field_datetime_out_of_range",
        "时间超出可接受的范围（1900–2999 年）",
        "The time lies outside the years 1900-2999",
    ),
    "text_forbidden_character": (
        "text_forbidden_character",
        "含有不允许的字符（控制字符、双向文字控制符、零宽字符或不成对的代理码位），请删除",
        "Holds a character no field may hold (a control, bidirectional-text control, zero-width "
        "character or lone surrogate); remove it",
    ),
    "too_short": ("items_count", "条目太少", "Too few entries"),
    "too_long": ("items_count", "条目太多", "Too many entries"),
    "json_invalid": ("json_invalid", "请求体不是合法的 JSON", "The body is not valid JSON"),
    "string_too_long": ("field_too_long", "内容过长", "Too long"),
    "string_too_short": ("field_too_short", "内容过短", "Too short"),
}


def _loc_path(loc: Iterable[Any]) -> str:
    parts = list(loc)
    path = ""
    if parts and parts[0] == "body":
        parts = parts[1:]
    elif parts and parts[0] in ("header", "query", "path"):
        path, parts = str(parts[0]), parts[1:]
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str):
            path += f".{part}" if path else part
    return path


def field_errors_from_pydantic(errors: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """Bilingual field errors from pydantic's; submitted values are never copied."""
    out: list[FieldError] = []
    for error in errors:
        kind = str(error.get("type", ""))
        loc = error.get("loc", ())
        if kind == "json_invalid":
            loc = ()
        path = _loc_path(loc)
        code, zh, en = _PYDANTIC_REASONS.get(kind, ("field_invalid", "取值无效", "Invalid value"))
        message = str(error.get("msg", ""))
        if kind in ("literal_error", "enum", "too_long", "too_short") and message:
            zh, en = f"{zh}（{message}）", f"{en}: {message}"
        if kind == "missing" and not path:
            zh, en = "缺少请求体", "The request body is missing"
        out.append(FieldError(path, code, zh, en))
    return out


# --------------------------------------------------------------------------- authorised use

_GRANT_STATUS: tuple[tuple[type[GrantError], int, str], ...] = (
    (RequestUnauthenticated, 401, "请求未通过签名认证 / Request not authenticated"),
    (GrantForbidden, 403, "无权获取 / Forbidden"),
    (GrantNotFound, 404, "未找到 / Not found"),
    (GrantInvalid, 422, "授权内容有误 / Invalid grant"),
)


def grant_problem(exc: GrantError) -> Problem:
    """The problem of a refused authorised-use request: its status, code and both reasons."""
    fallback = (500, "内部错误 / Internal error")
    status, title = next(((s, t) for k, s, t in _GRANT_STATUS if isinstance(exc, k)), fallback)
    headers = {"WWW-Authenticate": 'Signature realm="suixin"'} if status == 401 else None
    return Problem(
        status,
        "grant-" + exc.code.replace("_", "-"),
        title,
        f"{exc.reason.zh} / {exc.reason.en}",
        headers=headers,
        extra={"code": exc.code},
    )


# Starlette's own refusals (no route matched, a method the route lacks), in both languages
_HTTP_WORDS = {
    404: ("未找到 / Not found", "没有此地址 / no such resource at this address"),
    405: (
        "方法不允许 / Method not allowed",
        "此地址不接受该请求方法 / this address does not take that method",
    ),
    400: ("请求无法处理 / Bad request", "请求无法解析 / the request could not be read"),
}


def _allowed_methods(request: Request) -> set[str]:
    """The methods of every route whose path matches the request's."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        allowed = getattr(route, "methods", None)
        if allowed and route.matches(request.scope)[0] is not Match.NONE:
            methods |= set(allowed)
    return methods


# --------------------------------------------------------------------------- handlers


def install_error_handlers(app: FastAPI) -> None:
    """Turn every error the service raises into a problem-details response."""

    @app.exception_handler(Problem)
    async def _problem(_request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(field_errors_from_pydantic(exc.errors())))

    @app.exception_handler(InvalidCredential)
    async def _invalid_credential(_request: Request, exc: InvalidCredential) -> JSONResponse:
        return problem_response(validation_problem(exc.errors))

    @app.exception_handler(InvalidInput)
    async def _invalid_input(_request: Request, exc: InvalidInput) -> JSONResponse:
        return problem_response(
            Problem(422, "invalid-input", "输入有误 / Invalid input", exc.diagnostics())
        )

    @app.exception_handler(CounterError)
    async def _counter(_request: Request, exc: CounterError) -> JSONResponse:
        # the counter's refusals (verifier.counter), in the shape the standalone counter uses
        return problem_response(
            Problem(exc.status, exc.slug, exc.title, exc.detail, extra=exc.extra)
        )

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return problem_response(Problem(404, "not-found", "未找到 / Not found", exc.diagnostics()))

    @app.exception_handler(LifecycleError)
    async def _lifecycle(_request: Request, exc: LifecycleError) -> JSONResponse:
        return problem_response(
            Problem(
                409,
                exc.code.replace("_", "-"),
                "无法办理 / Not possible now",
                exc.diagnostics(),
                extra={"code": exc.code, **exc.extra},
            )
        )

    @app.exception_handler(CredentialInForce)
    async def _in_force(_request: Request, exc: CredentialInForce) -> JSONResponse:
        return problem_response(
            Problem(
                409,
                "credential-in-force",
                "已有有效凭证 / A credential is in force",
                exc.diagnostics(),
                extra={"code": exc.code, "existingId": exc.existing_id},
            )
        )

    @app.exception_handler(GrantError)
    async def _grant(_request: Request, exc: GrantError) -> JSONResponse:
        return problem_response(grant_problem(exc))

    @app.exception_handler(IdempotencyConflict)
    async def _conflict(_request: Request, exc: IdempotencyConflict) -> JSONResponse:
        return problem_response(
            Problem(
                409,
                "idempotency-conflict",
                "幂等键冲突 / Idempotency-Key reused",
                "该 Idempotency-Key 已用于内容不同的请求；请为新请求使用新的键 / "
                "this Idempotency-Key was already used with a different request; "
                "use a new key for a new request",
            )
        )

    @app.exception_handler(ChainUnavailable)
    async def _chain_down(_request: Request, exc: ChainUnavailable) -> JSONResponse:
        log.warning("chain unavailable: %s", exc)
        return problem_response(
            Problem(
                503,
                "chain-unavailable",
                "区块链节点不可用 / Chain unavailable",
                "暂时无法读取区块链，无法给出核验结论（这不代表凭证无效），请稍后重试 / "
                "the chain cannot be read right now, so no verdict can be given (this does "
                "not mean the credential is invalid); retry later",
                headers={"Retry-After": "5"},
            )
        )

    @app.exception_handler(ChainMismatch)
    async def _chain_mismatch(_request: Request, exc: ChainMismatch) -> JSONResponse:
        log.error("chain mismatch: %s", exc)
        return problem_response(
            Problem(
                503,
                "chain-mismatch",
                "区块链节点不是本部署的链 / Not the deployment's chain",
                "链节点所服务的不是本部署的链（可能已被重置或替换），在恢复之前不给出核验结论"
                "（这不代表凭证无效） / the chain node does not serve this deployment's chain "
                f"(it may have been reset or replaced): {exc.problem}; no verdict is given "
                "until it is restored (this does not mean the credential is invalid)",
                headers={"Retry-After": "30"},
                extra={"expected": exc.expected, "found": exc.found},
            )
        )

    @app.exception_handler(ChainError)
    async def _chain_error(_request: Request, exc: ChainError) -> JSONResponse:
        log.warning("chain error: %s", exc)
        return problem_response(
            Problem(
                502,
                "chain-error",
                "区块链节点出错 / Chain error",
                "区块链节点拒绝了请求，请稍后重试 / the chain node refused a request; retry later",
            )
        )

    @app.exception_handler(SuixinError)
    async def _internal(_request: Request, exc: SuixinError) -> JSONResponse:
        log.error("unexpected %s: %s", type(exc).__name__, exc)
        return problem_response(
            Problem(
                500,
                "internal",
                "内部错误 / Internal error",
                "服务内部出错，已记录 / the service failed; the error was logged",
            )
        )

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        # Not a default answer: a 500 that says the service failed, logged with its traceback.
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return problem_response(
            Problem(
                500,
                "internal",
                "内部错误 / Internal error",
                "服务内部出错，已记录 / the service failed; the error was logged",
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        known = _HTTP_WORDS.get(exc.status_code)
        title, detail = known if known else ("HTTP 错误 / HTTP error", str(exc.detail))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # every method the path takes, not only those of the first route that matched it
            headers["Allow"] = ", ".join(sorted(_allowed_methods(_request)))
        problem = Problem(exc.status_code, "about:blank", title, detail, headers=headers)
        return problem_response(problem)
