"""The hand-written migrations build exactly the tables the models describe, and undo cleanly, on both backends."""
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from tests.conftest import _admin_connection, make_app
from webapp.database import dispose_engines
from webapp.extensions import db
from webapp.leads.text_search import in_the_models


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    """A database with no tables yet."""
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "empty.db")
        return
    base = request.getfixturevalue("postgresql_url")
    name = f"raam_migrations_{uuid.uuid4().hex[:8]}"
    admin = _admin_connection(base)
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_migrations_match_the_models_and_downgrade_to_nothing(empty_database):
    app = make_app(empty_database, SQLALCHEMY_ENGINE_OPTIONS={})
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": in_the_models})
            differences = compare_metadata(context, db.metadata)
        assert differences == []
        downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        dispose_engines()


def test_leads_stored_before_working_the_leads_read_as_routed_and_new_ones_wait_for_the_router(empty_database):
    app = make_app(empty_database, SQLALCHEMY_ENGINE_OPTIONS={})
    with app.app_context():
        upgrade(revision="0008")
        insert = 'INSERT INTO "mg-digital-leads" (platform, name, phone_number, payload, created_at) ' \
                 "VALUES ('CarDekho', :name, '9876543210', '{}', CURRENT_TIMESTAMP)"
        db.session.execute(sa.text(insert), {"name": "before"})
        db.session.commit()
        upgrade()
        db.session.execute(sa.text(insert), {"name": "after"})
        db.session.commit()
        rows = db.session.execute(sa.text('SELECT name, status, owner_id, routed_at IS NULL FROM "mg-digital-leads" '
                                          "ORDER BY id")).all()
        assert [tuple(row) for row in rows] == [("before", "new", None, False), ("after", "new", None, True)]
        # A status change leaves the search as it was; a name change moves it (SQLite's triggers, PostgreSQL's GIN).
        db.session.execute(sa.text("""UPDATE "mg-digital-leads" SET status = 'contacted', name = 'renamed'
                                      WHERE name = 'after'"""))
        db.session.commit()
        from webapp.leads.search import LeadFilters, search_leads

        assert [lead.name for lead in search_leads(LeadFilters(q="renamed")).leads] == ["renamed"]
        assert search_leads(LeadFilters(q="after")).leads == []
        db.session.remove()
        dispose_engines()


def test_every_foreign_key_to_a_lead_has_an_index_so_deleting_a_lead_reads_no_whole_table(empty_database):
    # A lead's deletion checks (and cascades to) every row that points at it; without an index on the pointing
    # column each deleted lead reads that whole table.
    app = make_app(empty_database, SQLALCHEMY_ENGINE_OPTIONS={})
    with app.app_context():
        upgrade()
        inspector = sa.inspect(db.engine)
        pointing = [(table, key["constrained_columns"]) for table in inspector.get_table_names()
                    for key in inspector.get_foreign_keys(table) if key["referred_table"] == "mg-digital-leads"]
        assert {table for table, _ in pointing} >= {"mg-digital-leads", "lead_activity", "outbox"}
        for table, columns in pointing:
            leading = [index["column_names"][:len(columns)] for index in inspector.get_indexes(table)]
            assert columns in leading, (table, columns, leading)
        dispose_engines()
