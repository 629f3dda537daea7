"""Request bodies as the emulator accepts them: multipart/form-data, urlencoded forms and JSON."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qsl

import python_multipart
from python_multipart.exceptions import FormParserError

# The largest request body the emulator reads; a larger one is refused with 413 (a channel's
# fields fit in a few KiB).
MAX_BODY_BYTES = 1 << 20


class BodyError(ValueError):
    """The body cannot be read; ``status`` is 400 (malformed), 413 (too large) or 415 (unsupported type)."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """The fields of a request body; a JSON object keeps its value types, forms give strings."""
    if len(body) > MAX_BODY_BYTES:
        raise BodyError(f"the body is larger than {MAX_BODY_BYTES} bytes", status=413)
    media = content_type.split(";", 1)[0].strip().lower()
    if not body.strip() and media in ("", "application/json"):
        return {}
    if media == "multipart/form-data":
        return _multipart(content_type, body)
    if media == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError as exc:
            raise BodyError("the form body is not UTF-8") from exc
    if media == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise BodyError(f"the JSON body cannot be parsed: {exc}") from exc
        except RecursionError:
            raise BodyError("the JSON body is nested too deeply") from None
        if not isinstance(data, dict):
            raise BodyError("the JSON body must be an object")
        return data
    raise BodyError(
        f"unsupported content type {media or '(none)'!r}: send multipart/form-data, "
        "application/x-www-form-urlencoded or application/json",
        status=415,
    )


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = {}

    def on_field(field: Any) -> None:
        fields[field.field_name.decode("utf-8")] = (field.value or b"").decode("utf-8")

    def on_file(file: Any) -> None:
        # httpx sends ``files={"name": (None, value)}`` parts with a filename-less disposition, but
        # some clients attach fields as files: take their content as the value.
        file.file_object.seek(0)
        fields[file.field_name.decode("utf-8")] = file.file_object.read().decode("utf-8")

    try:
        python_multipart.parse_form(
            {"Content-Type": content_type.encode("latin-1")}, io.BytesIO(body), on_field, on_file
        )
    except (FormParserError, UnicodeError, ValueError, AttributeError) as exc:
        raise BodyError(f"the multipart body cannot be parsed: {exc}") from exc
    return fields
