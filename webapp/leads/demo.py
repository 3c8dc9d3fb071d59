"""Synthetic leads for demos and benchmarks: realistic bodies, stored as the webhook would store them.

Rows are bulk-loaded (COPY on PostgreSQL, executemany on SQLite), so a million
take seconds, not the hours a million webhook calls would.
"""
import collections
import csv
import io
import itertools
import json
import random
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.leads.demo_work import ACTIVITY_COLUMNS, WORK_COLUMNS, DemoDesk, demo_team, has_work_columns
from webapp.leads.models import Lead, LeadActivity
from webapp.leads.phones import normalize_phone
from webapp.leads.submission import COLUMN_FIELDS

PLATFORM = "CarDekho"
# Column order of a generated row (the table's columns less `id`).
COLUMNS = ("platform", "name", "phone_number", "phone_normalized", *COLUMN_FIELDS, "payload", "created_at")
FIRST_NAMES = (
    "Aarav Aditi Aditya Akash Amit Ananya Anil Anjali Arjun Asha Ayesha Deepak Divya Farhan Gaurav Geeta Harpreet "
    "Ishaan Jaspreet Kavya Kiran Krishna Lakshmi Manoj Meera Mohammed Neha Nikhil Pooja Pradeep Priya Rahul Rajesh "
    "Ramesh Ravi Rohan Sanjay Sara Shreya Simran Sneha Sunil Sunita Suresh Tanvi Varun Vijay Vikram Yash Zoya "
    "Abhishek Bhavna Chetan Dinesh Fatima Ganesh Hema Imran Jyoti Karthik Lalit Madhavi Naveen Omkar Parvati "
    "Rekha Sachin Tarun Uma Venkatesh Waseem Yamini Balaji Gurpreet Murugan Selvi Thomas Joseph Mary Anand"
).split()
SURNAMES = (
    "Sharma Verma Gupta Kumar Singh Patel Shah Mehta Iyer Iyengar Nair Menon Pillai Reddy Rao Naidu Chowdhury "
    "Banerjee Chatterjee Mukherjee Das Ghosh Bose Sen Joshi Kulkarni Deshpande Patil Pawar Jadhav Gill Sandhu "
    "Dhillon Khan Qureshi Siddiqui Ansari Fernandes D'Souza Pereira Mishra Tiwari Pandey Yadav Chauhan Rathore "
    "Agarwal Bansal Goyal Jain Kapoor Malhotra Khanna Arora Bhatia Saxena Srivastava Tripathi Dubey Hegde Shetty"
).split()
MG_MODELS = ("MG Hector", "MG Hector Plus", "MG Astor", "MG Gloster", "MG ZS EV", "MG Comet EV", "MG Windsor EV",
             "MG Cyberster", "MG M9")
OTHER_MODELS = ("Tata Nexon EV", "Hyundai Creta", "Kia Seltos", "Mahindra XUV700", "Maruti Grand Vitara",
                "Toyota Innova Hycross", "Honda Elevate", "Skoda Kushaq")
CAMPAIGNS = ("EV Awareness Q4", "Diwali Windsor Offer", "Hector Exchange Bonanza", "Comet City Drive",
             "Gloster Adventure Weekend", "Year End Clearance", "Festive Finance 7.99%", "Monsoon Service Camp",
             "New Year Test Drive", "Astor Smart Tech", None)
UTM = (("cardekho_ads", "cpc"), ("google", "cpc"), ("facebook", "paid_social"), ("instagram", "paid_social"),
       ("newsletter", "email"), ("cardekho_organic", "referral"), (None, None))
CITIES = ("Mumbai", "Pune", "Delhi", "Gurugram", "Noida", "Bengaluru", "Chennai", "Hyderabad", "Kolkata",
          "Ahmedabad", "Jaipur", "Lucknow", "Kochi", "Chandigarh", "Indore")
# Spellings CarDekho has been seen to send, and numbers that are not valid Indian mobiles.
PHONE_FORMATS = ("{d}", "{d}", "{d}", "+91{d}", "+91 {a} {b}", "0{d}", "91{d}", "+91-{a}-{b}", "{a} {b}")
INVALID_SHARE = 0.02  # numbers no phone can dial; the webhook stores them as sent
REPEAT_SHARE = 0.12  # leads from someone among the latest 0.5 % of leads (days, at a million) asking again
INVALID_PHONES = ("12345", "555-0100", "+1 415 555 0100", "000000", "98765", "+44 20 7946 0958", "N/A-0")
# IST hours of the day weighted like a dealership's enquiries: quiet nights, busy evenings.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 3, 5, 7, 9, 10, 10, 9, 9, 9, 10, 11, 12, 12, 10, 7, 4, 2)
DAYS = 730
IST_OFFSET = timedelta(hours=5, minutes=30)


class ProductionRefused(RuntimeError):
    """Demo data must never reach a production database."""


def refuse_production(app_env: str) -> None:
    """Raise ProductionRefused for a production configuration."""
    if app_env == "production":
        raise ProductionRefused("seed-demo refuses to run with APP_ENV=production")


def new_phone(rng: random.Random) -> tuple[str, str | None]:
    """A phone number as CarDekho sends it (now and then an invalid one), with the webhook's own normalisation."""
    if rng.random() < INVALID_SHARE:
        raw = rng.choice(INVALID_PHONES)
    else:
        digits = f"{rng.choice('6789')}{rng.randrange(10 ** 9):09d}"
        raw = rng.choice(PHONE_FORMATS).format(d=digits, a=digits[:5], b=digits[5:])
    return raw, normalize_phone(raw)


def arrival_times(rng: random.Random, count: int, now: datetime) -> list[float]:
    """`count` POSIX times over the last two years, busier lately and in the evening (IST), oldest first."""
    now_ts = now.timestamp()
    today = (now + IST_OFFSET).date()
    midnights = [datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() - IST_OFFSET.total_seconds()
                 for day in (today - timedelta(days=offset) for offset in range(DAYS + 1))]
    hours = rng.choices(range(24), HOUR_WEIGHTS, k=4096)
    times = []
    for number in range(count):
        moment = midnights[int(rng.triangular(0, DAYS, 0))] + hours[number % 4096] * 3600 + rng.random() * 3600
        times.append(moment if moment <= now_ts else moment - 86400)  # later today has not happened yet
    times.sort()  # leads arrive in time order, so the table is laid out as a real one is
    return times


def demo_rows(count: int, seed: int | None = None, now: datetime | None = None) -> Iterator[tuple]:
    """`count` rows in `COLUMNS` order, oldest first: a body as CarDekho sends it, and the webhook's columns."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    # People who asked lately: a share of leads is one of them asking again, as on CarDekho.
    recent = collections.deque(maxlen=max(20, count // 200))
    for number, moment in enumerate(arrival_times(rng, count, now)):
        raw_phone, normalized = rng.choice(recent) if recent and rng.random() < REPEAT_SHARE else new_phone(rng)
        recent.append((raw_phone, normalized))
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
        model = rng.choice(MG_MODELS) if rng.random() < 0.8 else rng.choice(OTHER_MODELS)
        campaign = rng.choice(CAMPAIGNS)
        source, medium = rng.choice(UTM)
        # Some senders post the number as a JSON number; it is stored as its digits.
        as_number = number % 5 == 0 and raw_phone.isdigit() and not raw_phone.startswith("0")
        body = {"name": name, "phone_number": int(raw_phone) if as_number else raw_phone, "car_model": model,
                "lead_url": f"https://www.cardekho.com/leads/{rng.randrange(10 ** 8, 10 ** 9)}"}
        if campaign:
            body["campaign"] = campaign
        if source:
            body.update(utm_source=source, utm_medium=medium,
                        utm_campaign=f"{model.split()[-1].lower()}_q{1 + number % 4}")
        body["city"] = rng.choice(CITIES)
        if number % 3 == 0:
            body["extra"] = {"budget_lakh": rng.randrange(8, 45), "test_drive": rng.random() < 0.5,
                             "lead_score": round(rng.random(), 2)}
        yield (PLATFORM, name, raw_phone, normalized, model, body["lead_url"], campaign, source, medium,
               body.get("utm_campaign"), None, None, body, datetime.fromtimestamp(moment, UTC))


def _csv_value(value):
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat()
    return value  # None is written as an empty cell: NULL to COPY


def _csv_lines(rows: list[tuple]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for row in rows:
        writer.writerow([_csv_value(value) for value in row])
    return text.getvalue()


class _CsvStream(io.RawIOBase):
    """A file whose `read()` renders rows as COPY CSV on demand, so nothing is held in memory."""

    def __init__(self, rows: Iterator[tuple], on_rows: Callable[[int], None]):
        self.rows, self.on_rows, self.pending = rows, on_rows, b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = 65536) -> bytes:
        while len(self.pending) < size:
            batch = list(itertools.islice(self.rows, 2000))
            if not batch:
                break
            self.on_rows(len(batch))
            self.pending += _csv_lines(batch).encode()
        chunk, self.pending = self.pending[:size], self.pending[size:]
        return chunk


def _copy_postgresql(rows: Iterator[tuple], columns: tuple[str, ...], on_rows: Callable[[int], None],
                     desk: DemoDesk | None) -> None:
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    cursor.execute("SET LOCAL statement_timeout = 0")  # the app's 5 s limit is for requests, not bulk loads
    with tempfile.TemporaryFile("w+", encoding="utf-8") as activities:
        def batch_done(done: int) -> None:
            if desk is not None:
                activities.write(_csv_lines(desk.activities))
                desk.activities.clear()
            on_rows(done)

        cursor.copy_expert(f'COPY "{Lead.__tablename__}" ({", ".join(columns)}) FROM STDIN WITH (FORMAT csv)',
                           _CsvStream(rows, batch_done), size=256 * 1024)
        if desk is not None:
            batch_done(0)
            activities.seek(0)
            cursor.copy_expert(f'COPY lead_activity ({", ".join(ACTIVITY_COLUMNS)}) FROM STDIN WITH (FORMAT csv)',
                               activities, size=256 * 1024)
            # The ids were given here, not drawn from the identity: move it past them.
            cursor.execute(f"""SELECT setval(pg_get_serial_sequence('"{Lead.__tablename__}"', 'id'),
                                             (SELECT max(id) FROM "{Lead.__tablename__}"))""")
            cursor.execute("ANALYZE lead_activity")
    cursor.execute(f'ANALYZE "{Lead.__tablename__}"')


def _insert_many(rows: Iterator[tuple], columns: tuple[str, ...], on_rows: Callable[[int], None],
                 desk: DemoDesk | None, batch_size: int = 5000) -> None:
    while batch := list(itertools.islice(rows, batch_size)):
        db.session.execute(sa.insert(Lead.__table__), [dict(zip(columns, row)) for row in batch])
        if desk is not None and desk.activities:
            db.session.execute(sa.insert(LeadActivity.__table__),
                               [dict(zip(ACTIVITY_COLUMNS, row)) for row in desk.activities])
            desk.activities.clear()
        on_rows(len(batch))


def seed_demo_leads(count: int, seed: int | None = None, app_env: str = "development",
                    on_rows: Callable[[int], None] = lambda done: None) -> int:
    """Add `count` synthetic leads (worked on by a sales team) in one transaction; `on_rows(n)` reports progress.

    Never in production.
    """
    refuse_production(app_env)
    now = datetime.now(UTC)
    rows, columns, desk = demo_rows(count, seed, now), COLUMNS, None
    if has_work_columns():
        first_id = (db.session.scalar(sa.select(sa.func.max(Lead.id))) or 0) + 1
        desk = DemoDesk(random.Random(f"work-{seed}" if seed is not None else None), demo_team(), now, first_id)
        rows, columns = desk.rows(rows), ("id", *COLUMNS, *WORK_COLUMNS)
    if db.session.get_bind().dialect.name == "postgresql":
        _copy_postgresql(rows, columns, on_rows, desk)
    else:
        _insert_many(rows, columns, on_rows, desk)
    db.session.commit()
    return count
