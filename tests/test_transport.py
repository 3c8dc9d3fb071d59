"""A real lead is never lost over how its body travelled: framing, compression, media type, charset.

Under the limit is stored (201 exactly when there is a row); over it is a 413
however the body is framed or compressed. The in-process tests run on SQLite
and PostgreSQL; the same framings are then sent as raw bytes to gunicorn (with
gunicorn.conf.py) and to the development server (`python run.py`).
"""
import gzip
import http.client
import json
import os
import socket
import zlib

import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK
from tests.servers import free_port, run_flask, scratch_database, start_dev_server, start_gunicorn, stop

LIMIT = 256 * 1024


def _lead(name: str = "Ravi Kumar", **extra) -> bytes:
    return json.dumps(dict(SAMPLE_LEAD, name=name, **extra)).encode()


def _padded_lead(name: str, size: int) -> bytes:
    """A valid lead of exactly `size` bytes (whitespace before its closing brace)."""
    body = _lead(name)
    return body[:-1] + b" " * (size - len(body)) + b"}"


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _bomb(name: str) -> bytes:
    """About 10 KiB of gzip that decodes to a 4 MiB lead."""
    return gzip.compress(_lead(name, notes="a" * (4 * 1024 * 1024)), compresslevel=9)


def _post(client, body: bytes, headers: dict | None = None, *, chunked: bool = False):
    """POST bytes; `chunked` frames them as gunicorn and the dev server hand a chunked body to the app."""
    all_headers = {"X-API-Key": GUIDE_API_KEY, "Content-Type": "application/json", **(headers or {})}
    all_headers = {name: value for name, value in all_headers.items() if value is not None}
    if not chunked:
        return client.post(WEBHOOK, data=body, headers=all_headers)
    return client.post(WEBHOOK, data=body, headers={**all_headers, "Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


def _assert_refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and set(response.get_json()) == {"error"}
    for word in words:
        assert word in response.get_json()["error"]


# --- Framing: a body over the limit is a 413, however it is framed ---------------------------------

@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_the_limit_is_stored(client, leads, chunked):
    response = _post(client, _padded_lead("Exactly The Limit", LIMIT), chunked=chunked)
    assert response.status_code == 201
    assert [lead.name for lead in leads()] == ["Exactly The Limit"]


@pytest.mark.parametrize("body", [
    _padded_lead("Valid Then More", LIMIT) + b"  \n  ",
    _padded_lead("Valid Then Junk", LIMIT) + b'{"name": "x"}',
    _lead("Cut In The Middle", notes="x" * LIMIT),
], ids=["the limit of valid JSON then whitespace", "the limit of valid JSON then more", "cut mid-JSON"])
def test_a_chunked_body_over_the_limit_is_413_and_never_stored_cut(client, leads, body):
    _assert_refused(_post(client, body, chunked=True), 413, "too large")
    assert leads() == []


# --- Media types: any JSON label, or none, is a JSON body ------------------------------------------

@pytest.mark.parametrize("content_type", [
    None, "application/json", "application/json; charset=utf-8", "Application/JSON;charset=\"UTF-8\"; v=2",
    "text/json", "application/vnd.cardekho.lead+json", "application/problem+json; charset=utf-8",
])
def test_a_json_body_is_stored_under_any_json_content_type_or_none(client, leads, content_type):
    response = _post(client, _lead("Typed Lead"), {"Content-Type": content_type})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert [lead.name for lead in leads()] == ["Typed Lead"]


# --- Content-Encoding: gzip and deflate are decoded, and the limit applies to the decoded body ------

@pytest.mark.parametrize("encoding, encode", [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress), ("GZIP", gzip.compress),
    ("deflate", zlib.compress), ("deflate", _raw_deflate), ("identity", lambda data: data),
    ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data))),
], ids=["gzip", "x-gzip", "upper-case", "deflate as zlib", "deflate raw", "identity", "gzip twice"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_compressed_body_is_decoded_and_stored(client, leads, encoding, encode, chunked):
    response = _post(client, encode(_lead("Compressed Lead")), {"Content-Encoding": encoding}, chunked=chunked)
    assert response.status_code == 201, response.get_data(as_text=True)
    [lead] = leads()
    assert lead.name == "Compressed Lead" and lead.payload == dict(SAMPLE_LEAD, name="Compressed Lead")


@pytest.mark.parametrize("encoding, body", [
    ("gzip", _bomb("Bomb")),
    ("deflate", zlib.compress(_lead("Bomb", notes="a" * (4 * 1024 * 1024)), 9)),
    ("gzip", gzip.compress(_padded_lead("Just Over", LIMIT + 1))),
], ids=["gzip bomb", "deflate bomb", "one byte over once decoded"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_once_decoded_is_413(client, leads, encoding, body, chunked):
    _assert_refused(_post(client, body, {"Content-Encoding": encoding}, chunked=chunked), 413, "too large")
    assert leads() == []


@pytest.mark.parametrize("encoding, body, words", [
    ("gzip", b"this is not gzip", ("gzip",)),
    ("gzip", gzip.compress(_lead())[:-12], ("gzip", "ends early")),
    ("gzip", _lead(), ("gzip",)),
    ("deflate", b"\x78\x9c not deflate", ("deflate",)),
])
def test_a_corrupt_compressed_body_is_400_saying_so(client, leads, encoding, body, words):
    _assert_refused(_post(client, body, {"Content-Encoding": encoding}), 400, *words)
    assert leads() == []


@pytest.mark.parametrize("encoding", ["br", "compress", "zstd", "gzip, br"])
def test_an_unknown_content_encoding_is_415_naming_it(client, leads, encoding):
    response = _post(client, _lead(), {"Content-Encoding": encoding})
    _assert_refused(response, 415, "Content-Encoding", encoding.split(", ")[-1], "gzip")
    assert leads() == []


# --- Charsets: a declared charset is honoured; without one, UTF-8 (or the UTF-16/32 its bytes show) -

def _text_lead(name: str) -> str:
    return json.dumps(dict(SAMPLE_LEAD, name=name), ensure_ascii=False)


@pytest.mark.parametrize("charset, name, encode", [
    ("latin-1", "René Dupré", lambda text: text.encode("latin-1")),
    ("ISO-8859-1", "René Dupré", lambda text: text.encode("latin-1")),
    ("windows-1252", "José €uro", lambda text: text.encode("cp1252")),
    ("utf-16", "रवि कुमार", lambda text: text.encode("utf-16")),  # with a BOM
    ("utf-16", "रवि कुमार", lambda text: text.encode("utf-16-be")),  # without: the bytes show the order
    ("utf-16", "रवि कुमार", lambda text: text.encode("utf-16-le")),
    ("utf-16le", "रवि कुमार", lambda text: text.encode("utf-16-le")),
    ("utf-8", "रवि कुमार", lambda text: b"\xef\xbb\xbf" + text.encode("utf-8")),  # with a BOM
    (None, "रवि कुमार", lambda text: text.encode("utf-16")),
    (None, "रवि कुमार", lambda text: text.encode("utf-16-le")),
    (None, "रवि कुमार", lambda text: b"\xef\xbb\xbf" + text.encode("utf-8")),
], ids=["latin-1", "ISO-8859-1", "windows-1252", "utf-16 BOM", "utf-16 BE no BOM", "utf-16 LE no BOM",
        "utf-16le", "utf-8 BOM", "undeclared utf-16 BOM", "undeclared utf-16 no BOM", "undeclared utf-8 BOM"])
def test_a_declared_charset_is_honoured(client, leads, charset, name, encode):
    content_type = "application/json" + (f"; charset={charset}" if charset else "")
    response = _post(client, encode(_text_lead(name)), {"Content-Type": content_type})
    assert response.status_code == 201, response.get_data(as_text=True)
    [lead] = leads()
    assert lead.name == name and lead.payload["name"] == name


@pytest.mark.parametrize("charset", ["klingon", "base64", "undefined", "x" * 300])
def test_an_unknown_charset_is_415_naming_the_charset(client, leads, charset):
    response = _post(client, _lead(), {"Content-Type": f"application/json; charset={charset}"})
    _assert_refused(response, 415, "charset", charset[:40])
    assert len(response.get_json()["error"]) < 200
    assert leads() == []


@pytest.mark.parametrize("charset, raw", [
    ("windows-1252", _text_lead("Jos\x81").encode("latin-1")),  # 0x81 is no character in windows-1252
    ("ascii", _text_lead("José").encode("utf-8")),
    ("shift_jis", b'{"name": "\x81", "phone_number": "9876543210"}'),
])
def test_a_body_that_is_not_text_in_its_declared_charset_is_400_saying_so(client, leads, charset, raw):
    response = _post(client, raw, {"Content-Type": f"application/json; charset={charset}"})
    _assert_refused(response, 400, charset)
    assert leads() == []


# --- The same framings, as raw bytes, to gunicorn (gunicorn.conf.py) and to the development server ----

@pytest.fixture(scope="module", params=["gunicorn", "development server"])
def live_server(request, postgresql_url, tmp_path_factory):
    """(port, database URL) of a real server on a PostgreSQL database of its own."""
    kind = request.param
    with scratch_database(postgresql_url, "transport_" + kind.split()[0]) as database_url:
        env = {"APP_ENV": "development", "SECRET_KEY": "transport-test-secret", "DATABASE_URL": database_url,
               "RATELIMIT_STORAGE_URI": "memory://", "CARDEKHO_API_KEYS": GUIDE_API_KEY,
               "WEBHOOK_RATE_LIMIT": "100000 per minute", "SPOOL_DIR": str(tmp_path_factory.mktemp("spool"))}
        run_flask({**os.environ, **env}, "db", "upgrade")
        port = free_port()
        server = start_gunicorn(port, env, workers=1) if kind == "gunicorn" else start_dev_server(port, env)
        try:
            yield port, database_url
        finally:
            stop(server)


def _chunked(body: bytes, size: int = 8192) -> bytes:
    chunks = [body[start:start + size] for start in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


FRAMED_BY_HAND = "chunked, framed by hand"


def _raw_post(port: int, body: bytes, headers: dict, content_length: int | str | None) -> tuple[int, dict]:
    """Send exactly these bytes (chunked when `content_length` is None or FRAMED_BY_HAND), then read the answer.

    A socket, not a client library, so a lying Content-Length or a chunked body
    reaches the server as written. The write side is closed after the body, as a
    sender that has nothing more to say would do.
    """
    head = [f"POST {WEBHOOK} HTTP/1.1", "Host: 127.0.0.1", f"X-API-Key: {GUIDE_API_KEY}", "Connection: close",
            *(f"{name}: {value}" for name, value in headers.items() if value is not None)]
    chunked = content_length in (None, FRAMED_BY_HAND)
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {content_length}")
    payload = _chunked(body) if content_length is None else body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        try:
            connection.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + payload)
            connection.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered before reading everything: its answer still counts
            pass
        response = http.client.HTTPResponse(connection)
        response.begin()
        return response.status, json.loads(response.read())


# (case, body, headers, Content-Length (None: chunked), status); each case's lead has the case as its name
LIVE_FRAMINGS = [
    ("length exact", _lead("length exact"), {}, len(_lead("length exact")), 201),
    ("length over", _padded_lead("length over", LIMIT + 1), {}, LIMIT + 1, 413),
    ("no content type", _lead("no content type"), {"Content-Type": None}, len(_lead("no content type")), 201),
    ("chunked under", _lead("chunked under"), {}, None, 201),
    ("chunked exactly the limit", _padded_lead("chunked exactly the limit", LIMIT), {}, None, 201),
    ("chunked valid JSON then more", _padded_lead("chunked valid JSON then more", LIMIT) + b" " * 100, {}, None, 413),
    ("chunked 1 MiB", _lead("chunked 1 MiB", notes="x" * 1024 * 1024), {}, None, 413),
    ("chunked gzip", gzip.compress(_lead("chunked gzip")), {"Content-Encoding": "gzip"}, None, 201),
    ("chunked gzip bomb", _bomb("chunked gzip bomb"), {"Content-Encoding": "gzip"}, None, 413),
    ("deflate zlib", zlib.compress(_lead("deflate zlib")), {"Content-Encoding": "deflate"}, None, 201),
    ("deflate raw", _raw_deflate(_lead("deflate raw")), {"Content-Encoding": "deflate"}, None, 201),
    ("brotli", _lead("brotli"), {"Content-Encoding": "br"}, None, 415),
    ("corrupt gzip", gzip.compress(_lead("corrupt gzip"))[:-12], {"Content-Encoding": "gzip"}, None, 400),
    ("windows-1252 José", _text_lead("windows-1252 José").encode("cp1252"),
     {"Content-Type": "application/json; charset=windows-1252"}, len(_text_lead("windows-1252 José")), 201),
    ("length longer than the body", _lead("length longer than the body"), {},
     len(_lead("length longer than the body")) + 50, 400),
    ("length shorter than the body", _lead("length shorter than the body"), {},
     len(_lead("length shorter than the body")) - 5, 400),
    ("chunk size not hexadecimal", b"zz\r\n" + _lead("chunk size not hexadecimal") + b"\r\n0\r\n\r\n", {},
     FRAMED_BY_HAND, 400),
    ("chunked body cut short", _chunked(_lead("chunked body cut short"))[:-20], {}, FRAMED_BY_HAND, 400),
]


@pytest.mark.parametrize("case, body, headers, content_length, status", LIVE_FRAMINGS,
                         ids=[c[0] for c in LIVE_FRAMINGS])
def test_a_real_server_stores_exactly_what_fits_however_it_is_framed(live_server, case, body, headers,
                                                                    content_length, status):
    port, database_url = live_server
    answer_status, answer = _raw_post(port, body, {"Content-Type": "application/json", **headers}, content_length)
    assert (answer_status, set(answer)) == (status, {"message"} if status == 201 else {"error"}), answer
    assert _rows_named(database_url, case) == (1 if status == 201 else 0)


def _rows_named(database_url: str, name: str) -> int:
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text('SELECT count(*) FROM "mg-digital-leads" WHERE name = :name'),
                                      {"name": name}).scalar()
    finally:
        engine.dispose()
