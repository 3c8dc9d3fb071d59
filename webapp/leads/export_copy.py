"""The CSV export on PostgreSQL: `COPY (SELECT ...) TO STDOUT` streamed as it arrives.

PostgreSQL formats the IST times and neutralises formula cells itself (the same
rules as `export_columns.neutralize_cell`), so Python only moves bytes: a worker's memory
stays flat whatever the export's size.
"""
import queue
import threading
from collections.abc import Iterator
from datetime import datetime

import psycopg2
import sqlalchemy as sa

from webapp.database import UTCDateTime
from webapp.extensions import db
from webapp.leads.export_columns import EXPORT_COLUMNS, EXPORT_FROM, FORMULA_STARTS, PHONE_COLUMNS, ROWS_PER_CHUNK
from webapp.leads.models import Lead
from webapp.leads.timezones import IST

# export_columns.PHONE_LIKE for PostgreSQL's regular expressions, anchored as re.fullmatch is.
PHONE_LIKE_SQL = r"^\+?[0-9][0-9 ()-]*$"
EXPORT_STATEMENT_TIMEOUT = "10min"  # the app's 5 s limit is for pages; an export of millions needs longer
_DONE = object()


# Written by the app itself, never by a sender: the E.164 number (always phone-like in a phone column) and
# the status labels. neutralize_cell leaves them as they are, so SQL need not look at them.
APP_WRITTEN = ("phone_normalized", "status", "lost_reason")


def sql_cell(column):
    """The SQL that renders one export column exactly as export._csv_row does in Python."""
    if column.key in APP_WRITTEN or isinstance(column.type, sa.Integer):
        return column
    if isinstance(column.type, UTCDateTime):
        # Truncated to the second, as strftime does; printed as 'YYYY-MM-DD HH:MM:SS' under DateStyle ISO.
        offset = int(IST.utcoffset(datetime.now()).total_seconds() // 60)
        return sa.func.date_trunc("second", sa.func.timezone(sa.literal_column(f"INTERVAL '{offset} minutes'"), column))
    first = sa.func.ascii(column)
    # Every formula start is below "A" (65): one integer comparison rejects almost every cell, which keeps
    # the export at psql's speed; the IN list and the regular expression run only for the rest.
    formula = sa.and_(first < 65, first.in_([ord(start) for start in FORMULA_STARTS]))
    if column.key in PHONE_COLUMNS:
        formula = sa.and_(formula, sa.not_(column.regexp_match(PHONE_LIKE_SQL)))
    return sa.case((formula, sa.literal("'") + column), else_=column)


def copy_statement(conditions: list, cursor) -> str:
    """`COPY (the export query) TO STDOUT`, its values quoted by psycopg2 (COPY takes no parameters)."""
    query = (sa.select(*[sql_cell(column) for _, column in EXPORT_COLUMNS]).select_from(EXPORT_FROM)
             .where(*conditions)
             .order_by(Lead.created_at.desc(), Lead.id.desc()))
    compiled = query.compile(dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
    select = cursor.mogrify(str(compiled), compiled.params).decode()
    return f"COPY ({select}) TO STDOUT WITH (FORMAT csv)"


class _ChunkSink:
    """The file psycopg2 writes COPY rows to (one `write` per row): chunks of rows onto a bounded queue."""

    def __init__(self, chunks: queue.Queue, stop: threading.Event):
        self.chunks, self.stop, self.rows = chunks, stop, []

    def write(self, row: bytes) -> None:
        self.rows.append(row)
        if len(self.rows) == ROWS_PER_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.put((b"".join(self.rows), len(self.rows)))
            self.rows = []

    def put(self, item) -> None:
        while not self.stop.is_set():
            try:
                self.chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                pass
        raise InterruptedError("export abandoned by its reader")


def _copy_into(connection, statement: str, sink: _ChunkSink) -> None:
    try:
        cursor = connection.cursor()
        cursor.execute(f"SET LOCAL statement_timeout = '{EXPORT_STATEMENT_TIMEOUT}'; SET LOCAL datestyle = 'ISO, YMD'")
        cursor.copy_expert(statement, sink)
        sink.flush()
        connection.rollback()  # read only: end the transaction that holds SET LOCAL
        sink.put(_DONE)
    except BaseException as error:  # noqa: BLE001  (handed to the reader, which raises it)
        try:
            sink.put(error)
        except InterruptedError:
            pass


def copy_export(head: str, conditions: list, counter: list[int]) -> Iterator[str]:
    """`head`, then the CSV rows of the leads matching `conditions`, newest first, as PostgreSQL writes them."""
    connection = db.engine.raw_connection()
    chunks, stop = queue.Queue(maxsize=8), threading.Event()
    worker, finished = None, False
    try:
        statement = copy_statement(conditions, connection.cursor())
        worker = threading.Thread(target=_copy_into, args=(connection, statement, _ChunkSink(chunks, stop)),
                                  name="csv-export", daemon=True)
        worker.start()
        while (item := chunks.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            data, rows = item
            counter[0] += rows
            yield head + data.decode()
            head = ""
        yield head
        finished = True
    finally:
        stop.set()
        _end_copy(connection, worker, finished)


def _end_copy(connection, worker: threading.Thread | None, finished: bool) -> None:
    """Give the connection back (a finished COPY) or stop the server's COPY and drop the connection."""
    if not finished:
        try:
            connection.dbapi_connection.cancel()
        except psycopg2.Error:
            pass  # the connection is dead already: nothing runs on it any more
    if worker is not None:
        worker.join(timeout=10)
    if finished:
        connection.close()
    else:
        connection.invalidate()
