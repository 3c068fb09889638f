"""The request guard: every request body is bounded, UTF-8, and free of text no JSON parser
should hand on, before any route sees it.

An ASGI middleware reads the body of every request that has one (up to the route's limit),
then replays it to the application. On the way it answers, in the problem shape of
``service.api.errors``:

- **413** ``body_too_large`` when the body (or its declared ``Content-Length``) exceeds the
  route's limit (``body_limit``; ``SUIXIN_MAX_BODY_BYTES``, 256 KiB, and
  ``SUIXIN_MAX_BATCH_BODY_BYTES``, 16 MiB, for ``POST /v1/credentials/batch``);
- **400** ``body_not_utf8`` for a JSON body that is not UTF-8, ``number_too_long`` for a
  number too long for any parser to turn into an integer, ``json_too_deep`` for arrays and
  objects nested more than ``MAX_JSON_DEPTH`` (64) deep (``json.loads`` would overflow the C
  stack and kill the process: see ``verifier.interop``), and ``url_forbidden_character``
  for NUL (``%00``) in the path or query (no database takes it in text);
- **422** ``text_forbidden_character`` for a string or key holding a lone UTF-16 surrogate
  (``\\ud800`` escaped in JSON: no text can hold it, and every encoder fails on it), naming
  its path (``verifier.interop``, the rule the verifier applies to bundles).

The checks cost a few microseconds on an ordinary body: surrogates and long numbers are
looked for with one scan of the bytes, and the body is parsed here only when that scan finds
one.

A route may have a **fast lane** (``fast_lanes``, by method and path): given the checked body,
parsed, it answers the common case itself or declines, and the application answers as before
(``service.api.routes.verify.fast_lane``). On a fast lane's path a JSON body is parsed once,
by orjson, after the nesting check: what orjson takes needs none of the other checks (it
refuses text that is not UTF-8, lone surrogates, and integers past a double's range, so
certainly those of more than ``MAX_DIGITS`` digits; it stops at 1,024 levels with an error,
never a crash); what it refuses gets the checks above and goes on to the application.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import Problem, problem_response, validation_problem
from verifier.interop import (
    MAX_DIGITS,
    MAX_JSON_DEPTH,
    interop_errors,
    json_too_deep,
    parse_json,
)

__all__ = ["BODY_METHODS", "FastLane", "RequestGuard", "body_limit"]

# (scope, the checked body as orjson parsed it, receive, send) -> whether it answered; else
# the application answers
FastLane = Callable[[Scope, Any, Receive, Send], Awaitable[bool]]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# Every digit made a 9, so that a run of more than MAX_DIGITS digits is one substring to find
# (a C memory search, 2 µs on a 2.4 KB bundle, where the regular expression ``[0-9]{641}``
# took 23 µs: it tries again at every digit of every run, and a bundle's hashes are long runs).
_DIGITS_AS_NINES = bytes.maketrans(b"0123456789", b"9" * 10)
_LONG_RUN = b"9" * (MAX_DIGITS + 1)


def _long_number_at(body: bytes) -> int:
    """Where the first run of more than ``MAX_DIGITS`` ASCII digits starts in ``body``, or -1."""
    return body.translate(_DIGITS_AS_NINES).find(_LONG_RUN)


_NOT_PARSED = object()
_BATCH_PATHS = frozenset({"/v1/credentials/batch"})


def body_limit(path: str, default: int, batch: int) -> int:
    """The largest body ``path`` takes, in bytes."""
    return batch if path in _BATCH_PATHS else default


def _is_json(headers: Mapping[bytes, bytes]) -> bool:
    kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    return not kind or kind == b"application/json" or kind.endswith(b"+json")


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "body-too-large",
        "请求体过大 / Content too large",
        f"请求体超过此接口的上限 {limit} 字节，未作处理 / the body exceeds this route's "
        f"limit of {limit} bytes; nothing was done",
        extra={"code": "body_too_large", "limit": limit},
    )


def _bad_body(code: str, zh: str, en: str) -> Problem:
    return Problem(
        400,
        code.replace("_", "-"),
        "请求体无法解析 / Body not readable",
        f"{zh}，未作处理 / {en}; nothing was done",
        extra={"code": code},
    )


def _check_json(body: bytes) -> Problem | None:
    """Why a JSON body cannot be handed on, if it cannot (see the module docstring)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _bad_body("body_not_utf8", "请求体不是 UTF-8 编码", "the body is not UTF-8")
    if json_too_deep(body):
        return _bad_body(
            "json_too_deep",
            f"请求体的 JSON 嵌套超过 {MAX_JSON_DEPTH} 层",
            f"the body's JSON nests more than {MAX_JSON_DEPTH} levels deep",
        )
    surrogates = _SURROGATE_ESCAPE.search(body) is not None
    if not surrogates and _long_number_at(body) < 0:
        return None
    try:
        parsed = parse_json(text)
    except json.JSONDecodeError:
        return None  # the route answers it as json_invalid
    except ValueError:  # an integer of more than MAX_DIGITS digits
        return _bad_body(
            "number_too_long", "请求体中的数字过长", "a number in the body is too long"
        )
    found = [e for e in interop_errors(parsed) if e.code == "text_forbidden_character"]
    return validation_problem(found) if found else None


def _nul_in_url(scope: Scope) -> bool:
    """Whether the path or query holds NUL (``%00``): no name or id here does, and no
    database takes it in text."""
    query = scope.get("query_string", b"").lower()
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query


def _nul_url() -> Problem:
    return Problem(
        400,
        "url-forbidden-character",
        "地址无法处理 / URL not readable",
        "地址或查询参数含有 NUL（%00），未作处理 / the path or query holds NUL (%00); "
        "nothing was done",
        extra={"code": "url_forbidden_character"},
    )


class RequestGuard:
    """The ASGI middleware (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        max_batch_body: int,
        fast_lanes: Mapping[tuple[str, str], FastLane] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_batch_body = max_batch_body
        self.fast_lanes = dict(fast_lanes or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _nul_in_url(scope):
            await self._answer(scope, receive, send, _nul_url())
            return
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("path", ""), self.max_body, self.max_batch_body)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._answer(scope, receive, send, _too_large(limit))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._answer(scope, receive, send, _too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        lane = self.fast_lanes.get((scope["method"], scope.get("path", "")))
        parsed: Any = _NOT_PARSED
        if body and _is_json(headers):
            if lane is not None and not json_too_deep(body):
                with contextlib.suppress(orjson.JSONDecodeError):  # see the module docstring
                    parsed = orjson.loads(body)
            problem = _check_json(body) if parsed is _NOT_PARSED else None
            if problem is not None:
                await self._answer(scope, receive, send, problem)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if (
            parsed is not _NOT_PARSED
            and lane is not None
            and await lane(scope, parsed, replay, send)
        ):
            return
        await self.app(scope, replay, send)

    @staticmethod
    async def _answer(scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
        await problem_response(problem)(scope, receive, send)
