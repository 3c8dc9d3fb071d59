"""CSV export of the leads a filter selects: streamed, Excel-friendly, safe from formula injection."""
import csv
import io
import logging
from collections.abc import Iterator
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from webapp.database import rollback_quietly
from webapp.extensions import db
from webapp.leads.export_columns import EXPORT_COLUMNS, EXPORT_FROM, PHONE_COLUMNS, ROWS_PER_CHUNK, neutralize_cell
from webapp.leads.export_copy import copy_export
from webapp.leads.models import Lead, LeadExport
from webapp.leads.search import LeadFilters, filter_conditions
from webapp.leads.timezones import to_ist

log = logging.getLogger(__name__)


# For each export column: whether it is a phone column.
_IS_PHONE = [column.key in PHONE_COLUMNS for _, column in EXPORT_COLUMNS]


def _csv_cell(value, phone: bool) -> str:
    if isinstance(value, datetime):
        return to_ist(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, int):
        return str(value)
    return neutralize_cell(value, phone)


def _csv_row(values) -> list[str]:
    return [_csv_cell(value, phone) for value, phone in zip(values, _IS_PHONE)]


def export_csv(filters: LeadFilters, counter: list[int] | None = None) -> Iterator[str]:
    """CSV text in chunks: a UTF-8 BOM (so Excel reads UTF-8), a header, then the rows, newest first.

    PostgreSQL streams its own COPY output (export_copy); elsewhere rows are
    fetched in batches from a server-side cursor. Either way memory does not grow
    with the export. `counter[0]` is kept at the number of rows written.
    """
    counter = counter if counter is not None else [0]
    if db.session.get_bind().dialect.name == "postgresql":
        return copy_export(csv_head(), filter_conditions(filters), counter)
    return python_export(filters, counter)


def csv_head() -> str:
    """The BOM and the header line."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    csv.writer(buffer).writerow([header for header, _ in EXPORT_COLUMNS])
    return buffer.getvalue()


def python_export(filters: LeadFilters, counter: list[int]) -> Iterator[str]:
    """export_csv's rows formatted in Python, batch by batch (any database)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(csv_head())
    query = (sa.select(*[column for _, column in EXPORT_COLUMNS]).select_from(EXPORT_FROM)
             .where(*filter_conditions(filters))
             .order_by(Lead.created_at.desc(), Lead.id.desc()))
    with db.session.execute(query.execution_options(yield_per=ROWS_PER_CHUNK)) as result:
        for batch in result.partitions():
            writer.writerows(_csv_row(row) for row in batch)
            counter[0] += len(batch)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def start_export(user_id: int, filters: LeadFilters) -> int:
    """Record that `user_id` starts an export of `filters` (committed before any row is sent); its id."""
    record = LeadExport(user_id=user_id, filters=filters.to_args())
    db.session.add(record)
    db.session.flush()
    export_id = record.id  # read before the commit expires it
    db.session.commit()
    return export_id


def recorded_rows(export_id: int, filters: LeadFilters) -> Iterator[str]:
    """`export_csv` for a started export; how many rows went out, and whether all did, is recorded at the end."""
    counter, completed = [0], False
    try:
        yield from export_csv(filters, counter)
        completed = True
    finally:  # also when the download is cut off or fails
        _record_end(export_id, counter[0], completed)


def _record_end(export_id: int, row_count: int, completed: bool) -> None:
    # Runs while a download ends, however it ends: a database that cannot take the update costs the history
    # one row's ending, never the download's clean-up.
    try:
        db.session.rollback()  # whatever the export's own failure left in the session
        db.session.execute(sa.update(LeadExport).where(LeadExport.id == export_id)
                           .values(row_count=row_count, completed=completed))
        db.session.commit()
    except sa_exc.SQLAlchemyError as error:
        rollback_quietly()
        log.warning("export %s: its end (%s rows, completed=%s) could not be recorded: %s", export_id,
                    row_count, completed, type(getattr(error, "orig", None) or error).__name__)


def recent_exports(limit: int = 200) -> list[LeadExport]:
    """The latest exports, newest first, with who took them."""
    return list(db.session.scalars(
        sa.select(LeadExport).order_by(LeadExport.created_at.desc(), LeadExport.id.desc()).limit(limit)))
