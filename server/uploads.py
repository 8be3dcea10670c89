"""Request bodies that carry a file: what the upload routes (``/files``, knowledge documents) share."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.exceptions import ValidationException


def body_type(request: Request[Any, Any, Any]) -> str:
    """The body's media type, lower-cased and without parameters (``""`` when none is declared)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def form_with_file(request: Request[Any, Any, Any]) -> tuple[FormMultiDict, UploadFile]:
    """The multipart form of ``request`` and its ``file`` field; a 422 naming ``file`` without one."""
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ValidationException(
            detail="the request is not valid",
            extra=[
                {
                    "key": "file",
                    "message": "a multipart upload needs a file field named 'file'",
                    "source": "body",
                }
            ],
        )
    return form, upload
