"""The webhook's body as its sender meant it, however it travelled: framing, compression, media type.

A body over the limit is a 413 whether it came with a Content-Length or
chunked, and whether it is over as sent or only once decompressed (a zip bomb).
Its charset is the submission's business (webapp.leads.submission).
"""
import zlib
from dataclasses import dataclass

from flask import Request
from werkzeug.exceptions import (BadRequest, ClientDisconnected, HTTPException, RequestEntityTooLarge,
                                 UnsupportedMediaType)

JSON_MEDIA_TYPES = ("", "application/json", "text/json")  # "": no Content-Type at all
GZIP_WBITS = 16 + zlib.MAX_WBITS
ZLIB_WBITS = zlib.MAX_WBITS
RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


@dataclass(frozen=True)
class JsonBody:
    """A request body with its content codings undone, and the charset its Content-Type declares."""

    data: bytes
    charset: str | None


def is_json_media_type(mimetype: str) -> bool:
    """No Content-Type, application/json, text/json or application/*+json (parameters aside)."""
    if mimetype in JSON_MEDIA_TYPES:
        return True
    return mimetype.startswith("application/") and mimetype.endswith("+json")


def read_json_body(request: Request) -> JsonBody:
    """The body of a JSON request, decompressed and within `request.max_content_length`.

    415 for a media type or content coding we cannot read, 413 for a body over
    the limit as sent or as decoded, 400 for a cut or corrupt one.
    """
    if not is_json_media_type(request.mimetype):
        raise UnsupportedMediaType("Content-Type must be application/json")
    codings = content_codings(request.headers.get("Content-Encoding", ""))
    limit = request.max_content_length
    data = read_body(request, limit)
    for coding in reversed(codings):  # the last coding applied is the first undone
        data = decode_content(data, coding, limit)
    return JsonBody(data, request.mimetype_params.get("charset"))


def decompressed(request: Request, data: bytes) -> bytes:
    """`data` with the request's content codings undone, or as it is when they cannot be (kept for people)."""
    try:
        for coding in reversed(content_codings(request.headers.get("Content-Encoding", ""))):
            data = decode_content(data, coding, request.max_content_length)
    except HTTPException:
        pass
    return data


def content_codings(header: str) -> list[str]:
    """The codings of a Content-Encoding header in the order they were applied; 415 for one we cannot undo."""
    codings = [coding.strip().lower() for coding in header.split(",")]
    codings = [coding for coding in codings if coding not in ("", "identity")]
    for coding in codings:
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise UnsupportedMediaType(f"Content-Encoding '{coding[:40]}' is not supported; "
                                       "send the body uncompressed, or compressed with gzip or deflate")
    return codings


def read_body(request: Request, limit: int) -> bytes:
    """The body as sent, however it was framed: 413 past `limit`, 400 when it was cut short."""
    try:
        data = request.get_data()  # a Content-Length over the limit is refused before anything is read
        # Werkzeug stops reading a chunked body at the limit without looking further: one byte more is too much.
        if request.content_length is None and len(data) >= limit and request.input_stream.read(1):
            raise RequestEntityTooLarge()
    except ClientDisconnected:
        raise _cut_short(request) from None
    except HTTPException:  # a 413
        raise
    except Exception:  # each WSGI server has its own error for broken chunked framing (gunicorn's is no OSError)
        raise _cut_short(request) from None
    if request.content_length is not None and len(data) < request.content_length:
        raise _cut_short(request)
    return data


def _cut_short(request: Request) -> BadRequest:
    if request.content_length is None:
        return BadRequest("Body could not be read to its end: it was cut short or its chunked framing is broken")
    return BadRequest(f"Body ended before its Content-Length ({request.content_length} bytes); "
                      "send the whole body")


def decode_content(data: bytes, coding: str, limit: int) -> bytes:
    """Undo one content coding; 413 when the result is longer than `limit`, 400 when `data` is corrupt."""
    if coding != "deflate":
        return _inflate(data, GZIP_WBITS, "gzip", limit)
    try:
        return _inflate(data, ZLIB_WBITS, coding, limit)
    except BadRequest:
        # HTTP's deflate is zlib-wrapped, but some servers and browsers send the raw stream.
        return _inflate(data, RAW_DEFLATE_WBITS, coding, limit)


def _inflate(data: bytes, wbits: int, coding: str, limit: int) -> bytes:
    """Decompress `data`, never producing more than `limit` + 1 bytes."""
    decoded = b""
    while data:  # a gzip body may be several members, one after another
        decompressor = zlib.decompressobj(wbits)
        try:
            decoded += decompressor.decompress(data, limit + 1 - len(decoded))
        except zlib.error as error:
            raise BadRequest(f"Body is not valid {coding} data ({_zlib_reason(error)}); "
                             "send it uncompressed or compress it again") from None
        if len(decoded) > limit:
            raise RequestEntityTooLarge()
        if not decompressor.eof:
            raise BadRequest(f"Body is not valid {coding} data (it ends early); send the whole body")
        data = decompressor.unused_data
    return decoded


def _zlib_reason(error: zlib.error) -> str:
    """zlib's own words ("incorrect header check"), without its error number."""
    return str(error).rsplit(": ", 1)[-1]
