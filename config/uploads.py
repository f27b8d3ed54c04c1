"""An upload handler that refuses a multipart body over `FILE_UPLOAD_MAX_BYTES` before reading
any of it (from its `Content-Length`). Django's own handlers would stream any size to a
temporary file first. The refusal is Django's `RequestDataTooBig`, which the error handlers
answer with a 413 (`request_too_large`) in the one error format (config/api_errors.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler


class UploadSizeLimitHandler(FileUploadHandler):
    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],  # noqa: N803 - Django's parameter name
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        if content_length > settings.FILE_UPLOAD_MAX_BYTES:
            raise RequestDataTooBig(
                f"The upload is larger than {settings.FILE_UPLOAD_MAX_BYTES} bytes."
            )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        return raw_data  # the next handler stores it

    def file_complete(self, file_size: int) -> None:
        return None
