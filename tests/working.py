"""Helpers for the tests of working leads through the pages: signed-in people with their CSRF token."""
import pytest

from tests.conftest import csrf_token_in
from webapp.extensions import db
from webapp.leads import pipeline
from webapp.leads.models import Lead

LIST = "/admin/mg-digital-leads"
HTMX = {"HX-Request": "true", "HX-Target": "lead-work"}


class Person:
    """A signed-in browser: its own client and the CSRF token its pages carry."""

    def __init__(self, client, user):
        self.client, self.user = client, user
        self.token = csrf_token_in(client.get(LIST).get_data(as_text=True))

    def post(self, path, data=None, htmx=False, **kwargs):
        """POST a form with the CSRF token, as the page's form would (as htmx does when `htmx`)."""
        headers = {**HTMX, "HX-Current-URL": "http://localhost" + path.rsplit("/", 1)[0]} if htmx else {}
        return self.client.post(path, data={"csrf_token": self.token, **(data or {})}, headers=headers, **kwargs)

    def page(self, path) -> str:
        """The HTML of a page."""
        response = self.client.get(path)
        assert response.status_code == 200, path
        return response.get_data(as_text=True)


@pytest.fixture
def people(make_user):
    """A manager and two sales people."""
    return {"manager": make_user("meera@raam.example", name="Meera Nair", role="manager"),
            "asha": make_user("asha@raam.example", name="Asha Patil"),
            "ravi": make_user("ravi@raam.example", name="Ravi Rao")}


@pytest.fixture
def sign_in(app, auth):
    """A signed-in Person for a user."""

    def person(user) -> Person:
        client = app.test_client()
        assert auth.login(user.email, client=client).status_code == 302
        return Person(client, user)

    return person


def stored(app, lead_id):
    """The lead as the database has it now, and its timeline's kinds, newest first."""
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        kinds = [row.kind for row in pipeline.timeline(lead_id)]
        db.session.expunge_all()
        return lead, kinds


