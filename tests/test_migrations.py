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
