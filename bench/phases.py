"""The benchmark's phases in order, each adding its section (and its targets) to RESULTS.md."""
import os
import secrets
import time

from bench import report
from bench.commands import flask_cli, psql
from bench.read_phases import SEED, ReadPhases
from bench.live_list import LivePhases
from bench.reports import ReportPhases
from bench.webhook_phases import THREADS, TWIN_TABLE, WORKERS, WebhookPhases
from config import normalize_database_url

# The indexes the webhook's insert and the router need; every other index of the leads table is the dashboard's.
WEBHOOK_INDEXES = ("mg-digital-leads_pkey", "ix_mg-digital-leads_intake_id", "ix_mg-digital-leads_unrouted")
# migrations/versions/0001's indexes, which the dashboard migration (0008) replaced: the insert's baseline.
BEFORE_DASHBOARD_INDEXED = ("created_at", "phone_normalized", "car_model", "campaign")


class Phases(WebhookPhases, ReadPhases, ReportPhases, LivePhases):
    """State shared by the phases: settings, URLs, environments, results and targets."""

    def __init__(self, settings, key: str):
        self.settings, self.key = settings, key
        self.dsn = f"postgresql://postgres@127.0.0.1:5432/{settings.database}"
        self.url = normalize_database_url(self.dsn)
        self.cli_env = {**os.environ, "APP_ENV": "development", "DATABASE_URL": self.dsn, "SECRET_KEY": "bench"}
        self.real_env = {"APP_ENV": "production", "DATABASE_URL": self.dsn, "SECRET_KEY": secrets.token_hex(32),
                         "CARDEKHO_API_KEYS": key, "RATELIMIT_STORAGE_URI":
                         f"redis://127.0.0.1:6379/{settings.redis_db}", "WEBHOOK_RATE_LIMIT": "1000000 per minute",
                         "WEB_CONCURRENCY": str(WORKERS), "GUNICORN_THREADS": THREADS}
        self.sections: list[str] = []
        self.targets: list[list] = []
        self.log = os.path.join(settings.work, "gunicorn.log")

    def all(self) -> str:
        """Run every phase; the Markdown body of RESULTS.md."""
        self.seed_postgresql()
        self.make_twin()
        self.add_indexes()
        self.webhook(with_twin=True)
        self.index_cost()
        self.webhook_breakdown()
        self.routing_at_a_steady_pace()
        self.trim_to_seeded()
        self.dashboard_postgresql()
        self.export()
        self.reports_postgresql()
        self.live_list()
        self.dashboard_sqlite()
        self.reports_sqlite()
        self.sections.insert(0, self.data_section())
        return self.body()

    def webhook_only(self) -> str:
        """`--only webhook`: a small seeded table with every index, then the three servers; a body of its own."""
        self.seed_postgresql()
        self.add_indexes()
        self.webhook(with_twin=False)
        self.webhook_breakdown()
        self.routing_at_a_steady_pace()
        return self.body()

    def body(self) -> str:
        """The targets table, then every section."""
        targets = "## Targets\n\n" + report.table(["target", "measured", "verdict"], self.targets) + "\n"
        return "\n" + targets + "\n" + "\n".join(self.sections)

    # --- PostgreSQL: data ---------------------------------------------------------------------------

    def seed_postgresql(self) -> None:
        """The schema at head without the dashboard's indexes, then the demo leads (worked on by a demo sales
        team: owners, statuses, repeats, timelines) by COPY."""
        flask_cli(self.cli_env, "db", "upgrade")
        names = psql(self.dsn, "SELECT indexname FROM pg_indexes WHERE tablename = 'mg-digital-leads' "
                               f"AND indexname NOT IN ({', '.join(repr(name) for name in WEBHOOK_INDEXES)})")
        # Kept as the migrations made them, rebuilt by add_indexes over the seeded rows: the definition, and the
        # statistics targets a migration set on its columns, which pg_get_indexdef leaves out (without them the
        # trigram index's histogram has 100 buckets, not 1,000, and a common name's search plan is left to chance).
        self.dashboard_indexes = [psql(self.dsn, f"""SELECT pg_get_indexdef('public."{name}"'::regclass)""")
                                  for name in names.split()]
        self.statistics_targets = self._statistics_targets(names.split())
        for name in names.split():
            psql(self.dsn, f'DROP INDEX "{name}"')
        self.seed_seconds = flask_cli(self.cli_env, "leads", "seed-demo", str(self.settings.leads), "--seed", SEED)
        psql(self.dsn, 'VACUUM ANALYZE "mg-digital-leads"')
        self.seeded_max_id = int(psql(self.dsn, 'SELECT max(id) FROM "mg-digital-leads"'))

    def _statistics_targets(self, index_names: list[str]) -> list[tuple[str, int, int]]:
        """(index, column number, target) for each index column with a statistics target of its own."""
        targets = []
        for name in index_names:
            rows = psql(self.dsn, f"""SELECT attnum || ' ' || attstattarget FROM pg_attribute
                                      WHERE attrelid = 'public."{name}"'::regclass AND attstattarget > 0""")
            targets += [(name, *map(int, row.split())) for row in rows.splitlines()]
        return targets

    def make_twin(self) -> None:
        """A copy of the seeded table with the indexes the table had before the dashboard migration (0001's
        single-column ones beside the primary key and intake id) and the router's."""
        twin = TWIN_TABLE
        psql(self.dsn, f'CREATE TABLE "{twin}" (LIKE "mg-digital-leads" INCLUDING ALL)')
        for column in BEFORE_DASHBOARD_INDEXED:
            psql(self.dsn, f'CREATE INDEX ON "{twin}" ({column})')
        psql(self.dsn, f'INSERT INTO "{twin}" SELECT * FROM "mg-digital-leads"')
        psql(self.dsn, f"""SELECT setval(pg_get_serial_sequence('"{twin}"', 'id'), (SELECT max(id) FROM "{twin}"))""")
        psql(self.dsn, f'VACUUM ANALYZE "{twin}"')

    def add_indexes(self) -> None:
        """The dashboard's indexes, exactly as the migrations define them, built over the seeded rows."""
        started = time.perf_counter()
        for definition in self.dashboard_indexes:
            psql(self.dsn, definition)
        for name, column, target in self.statistics_targets:
            psql(self.dsn, f'ALTER INDEX "{name}" ALTER COLUMN {column} SET STATISTICS {target}')
        rebuilt = self._statistics_targets(sorted({name for name, _, _ in self.statistics_targets}))
        if sorted(rebuilt) != sorted(self.statistics_targets):
            raise RuntimeError(f"the rebuilt indexes' statistics targets {rebuilt} are not the migrations' "
                               f"{self.statistics_targets}")
        self.index_seconds = time.perf_counter() - started
        psql(self.dsn, 'VACUUM ANALYZE "mg-digital-leads"')
        sizes = psql(self.dsn, """SELECT string_agg(indexrelname || '=' || pg_relation_size(indexrelid), ',')
                                  FROM pg_stat_user_indexes WHERE relname = 'mg-digital-leads'""")
        self.index_sizes = dict(item.split("=") for item in sizes.split(","))
        self.table_bytes = int(psql(self.dsn, """SELECT pg_table_size('"mg-digital-leads"')"""))

    def data_section(self) -> str:
        """How long the data took to make, and how big the table and each index are."""
        mib = 1024 * 1024
        rows = [["table (heap + TOAST)", self.table_bytes / mib]]
        rows += [[f"index `{name}`", int(size) / mib] for name, size in sorted(self.index_sizes.items())]
        rows.append(["all indexes", sum(int(size) for size in self.index_sizes.values()) / mib])
        return (f"## 0. The data\n\n`flask leads seed-demo {self.settings.leads:,}` (COPY, with a demo sales team's "
                f"work: owners, statuses, repeats, timelines; the dashboard's indexes dropped) took "
                f"{self.seed_seconds:.1f} s; building those indexes again (the migrations' own definitions) took "
                f"{self.index_seconds:.1f} s, with the statistics targets the migrations set ("
                + ", ".join(f"`{name}` column {column}: {target}" for name, column, target in self.statistics_targets)
                + "). Sizes after VACUUM ANALYZE:\n\n"
                + report.table(["relation", "MiB"], rows) + "\n")

    def trim_to_seeded(self) -> None:
        """Remove the webhook benchmark's rows, so the dashboard sees exactly the seeded leads."""
        psql(self.dsn, f'DELETE FROM "mg-digital-leads" WHERE id > {self.seeded_max_id}')
        psql(self.dsn, f'DROP TABLE "{TWIN_TABLE}"')
        psql(self.dsn, 'VACUUM ANALYZE "mg-digital-leads"')
