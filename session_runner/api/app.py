"""The API as one ASGI app, built from its dependencies: `build_app(context, metrics)`.

    GET  /healthz                          the process serves (no key)
    GET  /openapi.json                     the published OpenAPI 3.1 (no key)
    POST /v1/messages                      send one text message (Idempotency-Key)
    GET  /v1/messages/{message_id}         its state and history
    GET  /v1/accounts                      the namespace's accounts
    GET  /v1/accounts/{name}               one account
    GET  /v1/accounts/{name}/qr            its login QR (PNG, or text)
    POST /v1/accounts/{name}/snapshot      ask for a snapshot now
    POST /v1/bulk                          start a bulk send (CSV upload or s3:// url)
    GET  /v1/bulk/{job_id}                 its progress
    POST /v1/bulk/{job_id}/cancel          stop it
    GET  /v1/bulk/{job_id}/errors          its per-row errors, CSV

/metrics is not here: `main` serves the registry on its own port, so the
API's Service never exposes it. Every error is a problem (`problems`),
including FastAPI's validation errors, unknown routes (404) and methods (405).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException

from session_runner import __version__
from session_runner.api import accounts, bulk, messages
from session_runner.api.deps import ApiContext
from session_runner.api.metrics import ApiMetrics
from session_runner.api.middleware import AuthMiddleware, BodyLimitMiddleware, ObserveMiddleware
from session_runner.api.openapi import publish_problems
from session_runner.api.problems import (
    VALIDATION,
    FieldError,
    ProblemError,
    field_errors,
    problem_response,
    response_of,
    validation_detail,
)

DESCRIPTION = """Send WhatsApp messages through wafleet's SenderPools, follow them to
delivery, run bulk sends from a CSV, and read the namespace's accounts.

Every `/v1/` call needs `Authorization: Bearer <API key>`. Errors are RFC 9457
problem details (`application/problem+json`) whose `errors` name the fields at fault."""


def body_limit(context: ApiContext) -> Any:
    """The body limit of a path: the upload limit for `POST /v1/bulk`, else the JSON one."""

    def limit_for(path: str) -> int:
        if path.rstrip("/") == "/v1/bulk":
            return context.limits.max_upload_bytes
        return context.limits.max_body_bytes

    return limit_for


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ProblemError)
        return response_of(error, request.url.path)

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = field_errors(error.errors())
        return problem_response(
            422,
            instance=request.url.path,
            detail=validation_detail(errors),
            type_=VALIDATION,
            title="Invalid request",
            errors=errors,
        )

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        if error.status_code == 400 and isinstance(error.__cause__, ValueError):
            # FastAPI's "There was an error parsing the body": a JSON body that is not UTF-8
            # (UnicodeDecodeError is a ValueError). Malformed input, named like the rest.
            errors = [FieldError(field="body", in_="body", message="malformed JSON: not UTF-8")]
            return problem_response(
                422,
                instance=request.url.path,
                detail=validation_detail(errors),
                type_=VALIDATION,
                title="Invalid request",
                errors=errors,
            )
        detail = {
            404: f"no route {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}",
        }.get(error.status_code, str(error.detail) if error.detail else None)
        return problem_response(
            error.status_code,
            instance=request.url.path,
            detail=detail,
            headers=error.headers,
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)


def build_app(context: ApiContext, metrics: ApiMetrics | None = None) -> FastAPI:
    """The API over `context`; `metrics` counts its requests (a fresh registry if None)."""
    app = FastAPI(
        title="wafleet API",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        # The API's metrics are Prometheus' (`metrics.ApiMetrics`); FastAPI's native
        # OpenTelemetry would otherwise ask, per request, whether a provider is configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.context = context
    app.state.metrics = metrics or ApiMetrics(process=False)
    install_problem_handlers(app)
    routers = [module.build_router() for module in (messages, accounts, bulk)]
    for router in routers:
        app.include_router(router)
    # The routes themselves (app.routes nests included routers): requests answered before
    # routing (401, 413) are counted under the route they would have reached.
    routes = [route for router in routers for route in router.routes]

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = publish_problems(default_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # Added innermost first: the request meets Observe, then Auth, then the body limit.
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit(context))
    app.add_middleware(AuthMiddleware, keys=context.keys)
    app.add_middleware(ObserveMiddleware, metrics=app.state.metrics, routes=routes)
    return app
