"""`/v1/bulk`: start a bulk send from a CSV, follow it, cancel it, download its row errors.

`POST /v1/bulk` takes either

- `multipart/form-data` with the fields `target` and `text`, then the CSV as
  the part `file`, last: the file is streamed to `BulkService.create` chunk
  by chunk as it arrives (`multipart.MultipartForm`), never held whole, and
  refused 413 once it passes `max_upload_bytes`; or
- `application/json` `{target, text, url}` naming a CSV already in S3
  (`s3://bucket/key`).

Everything that can be checked before the service sees a byte is (fields,
the key's scope, a pool routing the target); then the service validates the
rows and records the job (`bulk.model.BulkService`): a `BulkInputError` is a
422 naming its field, and a failure of the upload itself (too large, a
broken multipart body) is answered as that, whatever the service made of
the interrupted stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Final

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from session_runner.api import scope
from session_runner.api.deps import ApiContext, Context, Key
from session_runner.api.keys import ApiKey
from session_runner.api.multipart import MultipartError, MultipartForm, Part, boundary_of
from session_runner.api.openapi import problems
from session_runner.api.problems import (
    NOT_ROUTABLE,
    VALIDATION,
    FieldError,
    ProblemError,
    field_errors,
    invalid,
    validation_detail,
)
from session_runner.api.routing import NotRoutableError
from session_runner.api.unavailable import kube_errors, unavailable
from session_runner.bulk.model import BulkInputError, BulkJob
from session_runner.contract.outbound import TARGET_PATTERN
from session_runner.sender.message import MAX_TEXT_CHARS

JOB_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$"
S3_URL_PATTERN: Final = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\x00-\x1f]{1,1024}$"
FORM_FIELDS: Final = ("target", "text")
CSV_MEDIA_TYPE: Final = "text/csv"

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="The bulk job's id.")]


class BulkFields(BaseModel):
    """The fields of an upload: where the rows go and what they say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(pattern=TARGET_PATTERN, description="A SenderPool's routing target.")
    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description="The message; `{{column}}` takes the row's value of that CSV column.",
    )


class BulkFromUrl(BulkFields):
    """A bulk send of a CSV already in S3."""

    url: str = Field(pattern=S3_URL_PATTERN, description="The CSV: s3://bucket/key.")


_UPLOAD_SCHEMA: Final = {
    "type": "object",
    "required": ["target", "text", "file"],
    "properties": {
        "target": {"type": "string", "pattern": TARGET_PATTERN},
        "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS},
        "file": {"type": "string", "format": "binary", "description": "The CSV, last."},
    },
    "additionalProperties": False,
}


#: What the bulk service calls the CSV, by where it came from: the form part, or the URL.
_CSV_FIELDS: Final = frozenset({"csv", "file", "url"})


def request_field(service_field: str, *, upload: bool) -> str:
    """The request field a `BulkInputError` is about: the service names the CSV `csv`
    whichever way it came; the request has it as the form's `file` or the JSON's `url`."""
    if service_field in _CSV_FIELDS:
        return "file" if upload else "url"
    return service_field


def _invalid_fields(error: ValidationError) -> ProblemError:
    errors = field_errors(error.errors(include_input=False))
    return ProblemError(
        422, validation_detail(errors), type_=VALIDATION, title="Invalid request", errors=errors
    )


async def read_json(request: Request, limit: int) -> object:
    """The JSON body, refused 413 past `limit` bytes (the route's own limit is the upload's)."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise ProblemError(413, f"a JSON body is at most {limit} bytes")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid("body", f"malformed JSON: {type(error).__name__}") from None


async def check_target(ctx: ApiContext, key: ApiKey, target: str) -> None:
    if not scope.may_use_target(key, target):
        raise ProblemError(403, f"this API key may not send to target {target}")
    try:
        await ctx.router.for_target(target)
    except NotRoutableError as error:
        raise ProblemError(
            422,
            str(error),
            type_=NOT_ROUTABLE,
            title="No SenderPool takes these messages",
            errors=[FieldError(field="target", in_="body", message=str(error))],
        ) from None
    except kube_errors() as error:
        raise unavailable("the Kubernetes API", error) from None


class _Upload:
    """The file part's chunks for the service, remembering why the stream broke, if it did."""

    def __init__(self, form: MultipartForm, part: Part) -> None:
        self.form = form
        self.part = part
        self.failure: Exception | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.part.chunks():
                yield chunk
            await self.form.expect_end()
        except (MultipartError, HTTPException) as error:
            self.failure = error
            raise


def _as_problem(error: Exception) -> Exception:
    if isinstance(error, MultipartError):
        return invalid(error.field, str(error))
    return error


async def upload_fields(form: MultipartForm) -> tuple[BulkFields, Part]:
    """The fields before the file, validated, and the file part (current, unread)."""
    values: dict[str, str] = {}
    while (part := await form.next_part()) is not None:
        if part.name == "file":
            missing = [name for name in FORM_FIELDS if name not in values]
            if missing:
                raise invalid(missing[0], "required, before the file part")
            try:
                return BulkFields.model_validate(values), part
            except ValidationError as error:
                raise _invalid_fields(error) from None
        if part.name not in FORM_FIELDS:
            raise invalid(part.name, "unknown field (the form has target, text and file)")
        if part.filename is not None:
            raise invalid(part.name, "a plain field, not a file")
        if part.name in values:
            raise invalid(part.name, "given twice")
        try:
            values[part.name] = (await part.read()).decode("utf-8")
        except UnicodeDecodeError:
            raise invalid(part.name, "not UTF-8 text") from None
    missing = [name for name in FORM_FIELDS if name not in values]
    if missing:
        raise invalid(missing[0], "required")
    raise invalid("file", "required: the CSV, as the form's last part")


def build_router() -> APIRouter:
    router = APIRouter(tags=["bulk"])

    @router.post(
        "/v1/bulk",
        status_code=202,
        response_model=BulkJob,
        summary="Start a bulk send: a CSV upload, or a CSV in S3",
        responses=problems(403, 415, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": _UPLOAD_SCHEMA,
                        "encoding": {"file": {"contentType": CSV_MEDIA_TYPE}},
                    },
                    "application/json": {"schema": BulkFromUrl.model_json_schema()},
                },
            }
        },
    )
    async def create_bulk(request: Request, key: Key, ctx: Context) -> JSONResponse:
        content_type = request.headers.get("content-type", "")
        boundary = boundary_of(content_type)
        if boundary is not None:
            job = await _from_upload(request, boundary, key, ctx)
        elif content_type.split(";")[0].strip().lower() == "application/json":
            try:
                fields = BulkFromUrl.model_validate(
                    await read_json(request, ctx.limits.max_body_bytes)
                )
            except ValidationError as error:
                raise _invalid_fields(error) from None
            await check_target(ctx, key, fields.target)
            job = await _create(ctx, fields, None, fields.url)
        else:
            raise invalid(
                "Content-Type",
                "multipart/form-data (a CSV upload) or application/json (an s3:// url)",
                in_="header",
                status=415,
            )
        return JSONResponse(
            job.model_dump(mode="json"),
            status_code=202,
            headers={"Location": f"/v1/bulk/{job.id}"},
        )

    async def _from_upload(
        request: Request, boundary: bytes, key: ApiKey, ctx: ApiContext
    ) -> BulkJob:
        form = MultipartForm(request.stream(), boundary)
        try:
            fields, part = await upload_fields(form)
        except MultipartError as error:
            raise invalid(error.field, str(error)) from None
        await check_target(ctx, key, fields.target)
        upload = _Upload(form, part)
        try:
            return await _create(ctx, fields, upload.chunks(), None)
        except Exception:
            if upload.failure is not None:
                raise _as_problem(upload.failure) from None
            raise

    async def _create(
        ctx: ApiContext, fields: BulkFields, chunks: AsyncIterator[bytes] | None, url: str | None
    ) -> BulkJob:
        try:
            return await ctx.bulk.create(
                target=fields.target, text=fields.text, csv_chunks=chunks, url=url
            )
        except BulkInputError as error:
            raise invalid(request_field(error.field, upload=url is None), str(error)) from None

    async def _job(ctx: ApiContext, key: ApiKey, job_id: str) -> BulkJob:
        job = await ctx.bulk.get(job_id)
        if job is None:
            raise ProblemError(404, f"no bulk job {job_id}")
        if not scope.may_use_target(key, job.target):
            raise ProblemError(403, f"this API key may not use target {job.target}")
        return job

    @router.get(
        "/v1/bulk/{job_id}",
        response_model=BulkJob,
        summary="A bulk job's state and progress",
        responses=problems(403, 404, 422),
    )
    async def get_bulk(job_id: JobId, key: Key, ctx: Context) -> BulkJob:
        return await _job(ctx, key, job_id)

    @router.post(
        "/v1/bulk/{job_id}/cancel",
        response_model=BulkJob,
        summary="Stop publishing a bulk job's rows (those published still send)",
        responses=problems(403, 404, 422),
    )
    async def cancel_bulk(job_id: JobId, key: Key, ctx: Context) -> BulkJob:
        await _job(ctx, key, job_id)
        job = await ctx.bulk.cancel(job_id)
        if job is None:
            raise ProblemError(404, f"no bulk job {job_id}")
        return job

    @router.get(
        "/v1/bulk/{job_id}/errors",
        summary="The job's rows that could not be sent, as CSV (line,column,problem)",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "One line per bad row.",
                "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
            },
            **problems(403, 404, 422),
        },
    )
    async def bulk_errors(job_id: JobId, key: Key, ctx: Context) -> StreamingResponse:
        job = await _job(ctx, key, job_id)
        return StreamingResponse(
            ctx.bulk.error_report(job_id),
            media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{job.id}-errors.csv"'},
        )

    return router
