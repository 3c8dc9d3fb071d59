"""Admin pages: the intake log with its 24 h counts, recovering a rejected lead, the audit record, the banner."""
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import SAMPLE_LEAD, csrf_token_in
from tests.factories import add_lead
from webapp.audit import AuditEvent
from webapp.extensions import db
from webapp.intake.intake_log import IntakeEvent
from webapp.leads.models import Lead
from webapp.intake.parts import intake_of


def _event_ids(app, outcome=None) -> list[int]:
    with app.app_context():
        query = sa.select(IntakeEvent.id).order_by(IntakeEvent.id)
        if outcome:
            query = query.where(IntakeEvent.outcome == outcome)
        return list(db.session.scalars(query))


def _audit(app) -> list[tuple]:
    with app.app_context():
        return [(e.action, e.actor, e.target) for e in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]


@pytest.mark.parametrize("path", ["/admin/intake-log", "/admin/audit", "/admin/intake-log/1"])
def test_admin_pages_are_for_admins_only(client, auth, make_user, path):
    assert client.get(path).status_code == 302  # signed out: to /login
    for role in ("sales", "manager"):
        make_user(f"{role}@raam.example", role=role)
        auth.login(f"{role}@raam.example")
        assert client.get(path).status_code == 403
        auth.logout()


def test_the_intake_log_page_lists_filters_and_counts_the_last_24_hours(app, admin_client, post_lead):
    post_lead(SAMPLE_LEAD)
    post_lead({"name": "Ravi"})
    post_lead(SAMPLE_LEAD, key="wrong")
    page = admin_client.get("/admin/intake-log").get_data(as_text=True)
    assert "Missing required fields: phone_number" in page and "API key invalid" in page
    assert page.count('<td><a href="/admin/intake-log/') == 3
    assert "recoverable" in page  # the 400 from a valid key
    filtered = admin_client.get("/admin/intake-log?outcome=bad_key").get_data(as_text=True)
    assert filtered.count('<td><a href="/admin/intake-log/') == 1
    assert "<td>stored</td><td></td><td>1</td>" in page.replace("\n", "").replace("  ", "")


def test_repaired_leads_can_be_listed_and_show_the_body_as_sent(app, admin_client, post_lead):
    post_lead(SAMPLE_LEAD)
    post_lead(data=b'{"name": "Ravi\\u0000 Kumar", "phone_number": "9876543210"}')
    listing = admin_client.get("/admin/intake-log").get_data(as_text=True)
    assert '<option value="repaired">repaired</option>' in listing
    filtered = admin_client.get("/admin/intake-log?outcome=repaired").get_data(as_text=True)
    assert filtered.count('<td><a href="/admin/intake-log/') == 1 and "NUL characters removed" in filtered
    [event_id] = _event_ids(app, "repaired")
    page = admin_client.get(f"/admin/intake-log/{event_id}").get_data(as_text=True)
    assert "Body kept" in page and "Ravi\\u0000 Kumar" in page and "Store as lead" not in page


def test_a_rate_limited_lead_is_stored_by_an_admin_at_the_time_it_was_received(app_factory, auth, make_user,
                                                                               post_lead):
    app = app_factory(WEBHOOK_RATE_LIMIT="1 per minute")
    client = app.test_client()
    assert post_lead(SAMPLE_LEAD, using=client).status_code == 201
    assert post_lead(dict(SAMPLE_LEAD, name="Sunita Rao"), using=client).status_code == 429
    [event_id] = _event_ids(app, "rate_limited")
    make_user("root@raam.example", role="admin")
    auth.login("root@raam.example", client=client)
    page = client.get(f"/admin/intake-log/{event_id}").get_data(as_text=True)
    assert "Store as lead" in page and "Sunita Rao" in page
    with app.app_context():
        kept = db.session.get(IntakeEvent, event_id).body.decode()
    response = client.post(f"/admin/intake-log/{event_id}/recover",
                           data={"csrf_token": csrf_token_in(page), "body": kept.replace("\n", "\r\n")})
    assert response.status_code == 302
    assert "Stored as lead #" in client.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        event = db.session.get(IntakeEvent, event_id)
        lead = db.session.get(Lead, event.recovered_lead_id)
        assert (lead.name, lead.created_at, lead.platform) == ("Sunita Rao", event.received_at, "CarDekho")
    again = client.post(f"/admin/intake-log/{event_id}/recover", data={"csrf_token": csrf_token_in(page)},
                        follow_redirects=True).get_data(as_text=True)
    assert "already stored as lead" in again
    assert ("lead_recover", "root@raam.example", str(lead.id)) in _audit(app)


def test_a_rejected_body_fixed_by_hand_becomes_a_lead_and_a_still_broken_one_does_not(app, admin_client, post_lead, leads):
    assert post_lead({"name": "Ravi Kumar", "phone": "9876543210"}).status_code == 400
    [event_id] = _event_ids(app, "invalid")
    token = csrf_token_in(admin_client.get(f"/admin/intake-log/{event_id}").get_data(as_text=True))
    broken = admin_client.post(f"/admin/intake-log/{event_id}/recover", data={"csrf_token": token, "body": '{"name": 1'},
                        follow_redirects=True).get_data(as_text=True)
    assert "Not stored: Body is not valid JSON" in broken and leads() == []
    fixed = json.dumps({"name": "Ravi Kumar", "phone_number": "9876543210"})
    admin_client.post(f"/admin/intake-log/{event_id}/recover", data={"csrf_token": token, "body": fixed})
    [lead] = leads()
    assert lead.phone_normalized == "+919876543210"
    without_token = admin_client.post(f"/admin/intake-log/{event_id}/recover", data={"body": fixed})
    assert without_token.status_code == 400  # CSRF


def test_a_request_without_a_valid_key_offers_nothing_to_store(app, admin_client, post_lead):
    post_lead(SAMPLE_LEAD, key="wrong")
    [event_id] = _event_ids(app)
    page = admin_client.get(f"/admin/intake-log/{event_id}").get_data(as_text=True)
    assert "Store as lead" not in page and "Ravi Kumar" not in page  # the body was never kept
    token = csrf_token_in(page)
    refused = admin_client.post(f"/admin/intake-log/{event_id}/recover", data={"csrf_token": token},
                         follow_redirects=True).get_data(as_text=True)
    assert "not a rejected request from a valid key" in refused


def test_sign_ins_failures_and_sign_outs_are_audited_with_who_and_from_where(app, client, auth, make_user):
    make_user()
    auth.login(password="not the password", environ_base={"REMOTE_ADDR": "203.0.113.5"})
    auth.login(environ_base={"REMOTE_ADDR": "198.51.100.9"})
    auth.logout()
    with app.app_context():
        rows = [(e.action, e.actor, e.source_ip, e.actor_id is not None)
                for e in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]
    assert rows[0] == ("sign_in_failed", "asha@raam.example", "203.0.113.5", False)
    assert rows[1] == ("sign_in", "asha@raam.example", "198.51.100.9", True)
    assert rows[2][:2] == ("sign_out", "asha@raam.example")


def test_account_and_key_changes_from_the_command_line_are_audited(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create", "new@raam.example", "--name", "New", "--role", "sales"],
                         input="correct horse battery\n").exit_code == 0
    assert runner.invoke(args=["users", "deactivate", "new@raam.example"]).exit_code == 0
    assert runner.invoke(args=["keys", "create", "--label", "cardekho-12"]).exit_code == 0
    assert runner.invoke(args=["keys", "revoke", "cardekho-12"]).exit_code == 0
    actions = [(action, target) for action, actor, target in _audit(app) if actor.startswith("cli")]
    assert actions == [("user_create", "new@raam.example"), ("user_deactivate", "new@raam.example"),
                       ("key_create", "cardekho-12"), ("key_revoke", "cardekho-12")]


def test_the_audit_page_shows_the_record_and_filters_by_action(app, admin_client, auth):
    auth.login(password="wrong", email="mallory@evil.example", client=app.test_client())
    page = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "sign_in_failed" in page and "mallory@evil.example" in page and "root@raam.example" in page
    only = admin_client.get("/admin/audit?action=sign_in").get_data(as_text=True)
    assert "mallory@evil.example" not in only and "root@raam.example" in only


def test_signed_in_pages_show_a_banner_when_leads_stop_or_wait_in_the_spool(app_factory, auth, make_user, client):
    app = app_factory(SILENCE_ALARM_HOURS=1, BUSINESS_HOURS="00:00-23:59")
    client = app.test_client()
    auth.client = client
    make_user("root@raam.example", role="admin")
    auth.login("root@raam.example")
    assert "alarm-banner" not in client.get("/admin/intake-log").get_data(as_text=True)
    with app.app_context():
        add_lead(datetime.now(UTC) - timedelta(hours=3))
    page = client.get("/admin/intake-log").get_data(as_text=True)
    assert "No lead has arrived for" in page and "Check the CarDekho integration" in page
    from webapp.intake.spool import SpooledLead
    intake_of(app).spool.write(SpooledLead("x" * 32, "CarDekho", datetime.now(UTC), {"name": "a"}))
    assert "1 lead(s) received while the database was away" in client.get("/admin/intake-log").get_data(
        as_text=True)
    auth.logout()
    assert "alarm-banner" not in client.get("/login").get_data(as_text=True)  # signed-out people see nothing


def test_lead_views_and_exports_are_audited(app, client, auth, make_user):
    with app.app_context():
        lead_id = add_lead(name="Ravi Kumar", campaign="EV Q4")
    make_user("manager@raam.example", role="manager")
    auth.login("manager@raam.example", environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert client.get(f"/admin/mg-digital-leads/{lead_id}",
                      environ_base={"REMOTE_ADDR": "198.51.100.20"}).status_code == 200
    assert client.get("/admin/mg-digital-leads/export.csv?campaign=EV+Q4").status_code == 200
    with app.app_context():
        rows = {e.action: e for e in db.session.scalars(sa.select(AuditEvent))}
    view, export = rows["lead_view"], rows["export"]
    assert (view.actor, view.target, view.source_ip) == ("manager@raam.example", str(lead_id), "198.51.100.20")
    assert view.actor_id is not None and export.details == {"campaign": "EV Q4"}
