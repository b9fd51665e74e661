"""One error body for every refusal: RFC 9457 problem details (``application/problem+json``)::

    {"type": "about:blank", "title": "Bad Request", "status": 400,
     "detail": "from: must be earlier than to", "instance": "/v1/readings",
     "invalid-params": [{"name": "from", "reason": "from: must be earlier than to"}],
     "error": {"status": 400, "message": "...", "parameter": "from"}}

``invalid-params`` names the parameter to change (the member RFC 9457's own example uses);
``error`` is the body of earlier releases, an extension member kept so clients written for it
(and the web page) still read it. SensorThings (``/v1.1``) answers with that earlier body as
``application/json``: its standard defines no error format, and its clients expect JSON.
A client that sent a bad parameter is told which one and what to send instead; no request
ever answers with a stack trace.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from lokaalmeten.store import StoreError

log = logging.getLogger("lokaalmeten.server")


PROBLEM = "application/problem+json"


class ErrorDetail(BaseModel):
    status: int = Field(description="The HTTP status again.")
    message: str = Field(description="What was wrong and what to send instead.")
    parameter: str | None = Field(None, description="The parameter to change, when one is.")


class InvalidParam(BaseModel):
    name: str = Field(description="The query parameter to change.")
    reason: str = Field(description="What was wrong with it and what to send instead.")


class ErrorBody(BaseModel):
    """Every refusal's body: RFC 9457 problem details with the earlier ``error`` member; under
    /v1.1 (SensorThings) the ``error`` member alone."""

    type: str | None = Field(None, description="about:blank: no problem types of our own.")
    title: str | None = Field(None, description="The HTTP status phrase.")
    status: int | None = Field(None, description="The HTTP status again.")
    detail: str | None = Field(None, description="What was wrong and what to send instead.")
    instance: str | None = Field(None, description="The path that was asked for.")
    invalid_params: list[InvalidParam] | None = Field(
        None, alias="invalid-params", description="The parameter to change, when one is."
    )
    error: ErrorDetail = Field(description="The same, as earlier releases sent it.")


_RETRY = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


def _error(description: str, retry: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"model": ErrorBody, "description": description}
    if retry:
        answer["headers"] = _RETRY
    return answer


# What any route may answer besides its own success: documented on every operation.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("A bad or oversized parameter; the body names it and its limit."),
    429: _error("Over the rate limit, or too many requests running from one address.", True),
    503: _error("The server is busy, the store cannot answer, or the time limit passed.", True),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("No such node, entity or path.")}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        parameter: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameter = parameter
        self.retry_after = retry_after


def error_media_type(path: str) -> str:
    """Problem details everywhere but SensorThings, whose clients expect plain JSON."""
    return "application/json" if path == "/v1.1" or path.startswith("/v1.1/") else PROBLEM


def error_response(
    status: int,
    message: str,
    parameter: str | None = None,
    retry_after: int | None = None,
    path: str = "",
) -> JSONResponse:
    """The refusal of a request for ``path``: problem details, except under /v1.1."""
    error: dict[str, object] = {"status": status, "message": message}
    if parameter is not None:
        error["parameter"] = parameter
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if error_media_type(path) != PROBLEM:
        return JSONResponse({"error": error}, status_code=status, headers=headers)
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    problem: dict[str, object] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": message,
        "instance": path,
    }
    if parameter is not None:
        problem["invalid-params"] = [{"name": parameter, "reason": message}]
    problem["error"] = error
    return JSONResponse(problem, status_code=status, headers=headers, media_type=PROBLEM)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, exc.message, exc.parameter, exc.retry_after, request.url.path
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        location = [str(part) for part in first.get("loc", ()) if part not in ("query", "path")]
        parameter = ".".join(location) or None
        received = first.get("input")
        message = f"{parameter}: {first.get('msg', 'invalid value')}"
        if received is not None and not isinstance(received, dict):
            message += f" (got {received!r})"
        return error_response(400, message, parameter, path=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404:
            message = f"no such resource: {request.url.path}; see /docs for the API"
        return error_response(exc.status_code, message, path=request.url.path)

    @app.exception_handler(StoreError)
    async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
        log.warning("store error on %s: %s", request.url.path, exc)
        return error_response(
            503, f"the store could not answer: {exc}", retry_after=30, path=request.url.path
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error_response(
            500, "internal error; the server log has the details", path=request.url.path
        )
