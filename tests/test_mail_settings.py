"""A person's own mail settings on their page: a mail for each new lead or none, their phone for the mails' Call link."""
import sqlalchemy as sa

from tests.working import people, sign_in  # noqa: F401  (fixtures)
from webapp.auth.models import User
from webapp.extensions import db


def settings(app, user) -> tuple[bool, str | None]:
    with app.app_context():
        row = db.session.get(User, user.id)
        return row.mail_new_leads, row.phone


def test_a_person_turns_new_lead_mails_off_and_sets_their_phone(app, people, sign_in):
    asha = sign_in(people["asha"])
    html = asha.page("/account")
    assert 'name="mail_new_leads"' in html and 'name="phone"' in html
    response = asha.post("/account", {"form": "mail", "phone": "098765 43210"})  # box unticked: no mails
    assert response.status_code == 303
    assert settings(app, people["asha"]) == (False, "+919876543210")
    assert "Saved: no mails for new leads" in asha.page("/account")
    asha.post("/account", {"form": "mail", "mail_new_leads": "yes", "phone": ""})
    assert settings(app, people["asha"]) == (True, None)
    assert settings(app, people["ravi"]) == (True, None)  # only their own


def test_a_phone_that_is_not_an_indian_number_is_refused_and_nothing_changes(app, people, sign_in):
    asha = sign_in(people["asha"])
    response = asha.post("/account", {"form": "mail", "phone": "12<script>"})
    assert response.status_code == 400
    assert "valid Indian mobile number" in response.get_data(as_text=True)
    assert settings(app, people["asha"]) == (True, None)


def test_mail_settings_need_the_csrf_token(app, people, sign_in):
    asha = sign_in(people["asha"])
    assert asha.client.post("/account", data={"form": "mail", "phone": "9876543210"}).status_code == 400
    assert settings(app, people["asha"]) == (True, None)
