"""Working a lead (webapp.leads.pipeline) on SQLite and PostgreSQL: status, notes, calls, owners, the timeline."""
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.factories import add_lead
from webapp.extensions import db
from webapp.leads import pipeline
from webapp.leads.models import Lead, LeadActivity
from webapp.leads.pipeline import InvalidChange, NotAllowed
from webapp.leads.silence import BusinessHours


@pytest.fixture
def people(app, make_user):
    """A manager, two sales people and a switched-off sales account."""
    return {
        "manager": make_user("meera@raam.example", name="Meera Nair", role="manager"),
        "asha": make_user("asha@raam.example", name="Asha Patil"),
        "ravi": make_user("ravi@raam.example", name="Ravi Rao"),
        "gone": make_user("gone@raam.example", name="Gone Away", active=False),
    }


def lead(lead_id: int) -> Lead:
    db.session.expire_all()
    return db.session.get(Lead, lead_id)


def kinds(lead_id: int) -> list[str]:
    return [activity.kind for activity in pipeline.timeline(lead_id)]


def test_status_moves_along_the_pipeline_and_each_change_is_in_the_timeline(app_context, people):
    lead_id = add_lead()
    assert lead(lead_id).status == "new"
    pipeline.set_status(lead_id, people["asha"], "contacted")
    pipeline.set_status(lead_id, people["asha"], "test_drive")
    changes = [activity.details for activity in pipeline.timeline(lead_id)]
    assert changes == [{"from": "contacted", "to": "test_drive", "lost_reason": None},
                       {"from": "new", "to": "contacted", "lost_reason": None}]  # newest first
    assert pipeline.timeline(lead_id)[0].user.name == "Asha Patil"
    assert lead(lead_id).status == "test_drive"


def test_lost_needs_a_reason_from_the_list(app_context, people):
    lead_id = add_lead()
    for reason in (None, "", "moved to Dubai"):
        with pytest.raises(InvalidChange, match="why the lead was lost|reason from the list"):
            pipeline.set_status(lead_id, people["asha"], "lost", reason)
    with pytest.raises(InvalidChange, match="status from the list"):
        pipeline.set_status(lead_id, people["asha"], "won")
    assert lead(lead_id).status == "new" and kinds(lead_id) == []
    pipeline.set_status(lead_id, people["asha"], "lost", "bought_elsewhere")
    assert (lead(lead_id).status, lead(lead_id).lost_reason) == ("lost", "bought_elsewhere")
    pipeline.set_status(lead_id, people["asha"], "contacted", "budget")  # a reason only belongs to lost
    assert (lead(lead_id).status, lead(lead_id).lost_reason) == ("contacted", None)


def test_the_database_refuses_lost_without_a_reason_too(app_context):
    lead_id = add_lead()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(Lead).where(Lead.id == lead_id).values(status="lost"))
        db.session.flush()
    db.session.rollback()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(Lead).where(Lead.id == lead_id).values(status="sold"))
        db.session.flush()
    db.session.rollback()


def test_setting_the_same_status_again_changes_nothing(app_context, people):
    lead_id = add_lead()
    pipeline.set_status(lead_id, people["asha"], "new")
    assert kinds(lead_id) == [] and lead(lead_id).first_contacted_at is None


def test_a_note_has_its_author_and_time_and_is_kept_as_typed(app_context, people):
    lead_id = add_lead()
    body = '<script>alert(1)</script> \u202eevil hx-get="/x" wants a test drive on Saturday'
    note = pipeline.add_note(lead_id, people["asha"], f"  {body}\n")
    assert note.details == {"body": body} and note.user_id == people["asha"].id
    assert pipeline.timeline(lead_id)[0].kind == "note"
    for empty in ("", "   \n"):
        with pytest.raises(InvalidChange, match="Write something"):
            pipeline.add_note(lead_id, people["asha"], empty)
    with pytest.raises(InvalidChange, match="at most 2,000 characters; this one has 2,001"):
        pipeline.add_note(lead_id, people["asha"], "x" * 2001)
    with pytest.raises(InvalidChange, match="NUL"):
        pipeline.add_note(lead_id, people["asha"], "a\x00b")
    pipeline.add_note(lead_id, people["asha"], "x" * 2000)
    assert kinds(lead_id) == ["note", "note"]


@pytest.mark.parametrize("action", ["call", "whatsapp", "note", "status"])
def test_the_first_call_whatsapp_note_or_status_change_is_the_first_contact(app_context, people, action):
    lead_id = add_lead()
    assert lead(lead_id).first_contacted_at is None
    before = datetime.now(UTC)
    if action == "note":
        pipeline.add_note(lead_id, people["asha"], "Called, wants the Windsor")
    elif action == "status":
        pipeline.set_status(lead_id, people["asha"], "contacted")
    else:
        pipeline.record_contact(lead_id, people["asha"], action)
    first = lead(lead_id).first_contacted_at
    assert first is not None and first >= before - timedelta(seconds=1)
    pipeline.record_contact(lead_id, people["asha"], "call")  # later contacts do not move it
    assert lead(lead_id).first_contacted_at == first
    assert kinds(lead_id)[0] == "call"


def test_assignment_is_not_a_contact(app_context, people):
    lead_id = add_lead()
    pipeline.assign(lead_id, people["manager"], people["asha"].id)
    assert lead(lead_id).first_contacted_at is None


def test_sales_see_every_lead_but_change_only_their_own_or_unassigned_ones(app_context, people):
    asha, ravi, manager = people["asha"], people["ravi"], people["manager"]
    mine, theirs, nobodys = add_lead(), add_lead(), add_lead()
    pipeline.assign(mine, manager, asha.id)
    pipeline.assign(theirs, manager, ravi.id)
    assert [pipeline.can_change(asha, lead(i)) for i in (mine, theirs, nobodys)] == [True, False, True]
    assert all(pipeline.can_change(manager, lead(i)) for i in (mine, theirs, nobodys))
    assert not pipeline.can_change(people["gone"], lead(nobodys))
    with pytest.raises(NotAllowed, match="belongs to Ravi Rao"):
        pipeline.set_status(theirs, asha, "contacted")
    with pytest.raises(NotAllowed, match="belongs to Ravi Rao"):
        pipeline.add_note(theirs, asha, "mine now")
    pipeline.set_status(nobodys, asha, "contacted")
    pipeline.set_status(theirs, manager, "booked")
    assert [lead(i).status for i in (mine, theirs, nobodys)] == ["new", "booked", "contacted"]
    with pytest.raises(NotAllowed, match="switched off"):
        pipeline.set_status(nobodys, people["gone"], "booked")


def test_a_call_is_recorded_whoever_owns_the_lead(app_context, people):
    lead_id = add_lead()
    pipeline.assign(lead_id, people["manager"], people["ravi"].id)
    pipeline.record_contact(lead_id, people["asha"], "whatsapp")
    assert pipeline.timeline(lead_id)[0].user.name == "Asha Patil"
    with pytest.raises(InvalidChange):
        pipeline.record_contact(lead_id, people["asha"], "sms")
    with pytest.raises(NotAllowed):
        pipeline.record_contact(lead_id, people["gone"], "call")


def test_managers_assign_and_unassign_and_sales_may_only_take_an_unassigned_lead(app_context, people):
    asha, ravi, manager = people["asha"], people["ravi"], people["manager"]
    lead_id = add_lead()
    with pytest.raises(NotAllowed, match="Only a manager"):
        pipeline.assign(lead_id, asha, ravi.id)
    pipeline.assign(lead_id, asha, asha.id)  # "Take it"
    assert lead(lead_id).owner_id == asha.id and lead(lead_id).assigned_at is not None
    with pytest.raises(NotAllowed, match="Asha Patil has already taken this lead"):
        pipeline.assign(lead_id, ravi, ravi.id)
    with pytest.raises(InvalidChange, match="active account"):
        pipeline.assign(lead_id, manager, people["gone"].id)
    pipeline.assign(lead_id, manager, ravi.id)
    pipeline.assign(lead_id, manager, None)
    assert lead(lead_id).owner_id is None and lead(lead_id).assigned_at is None
    assigned = [a.details for a in pipeline.timeline(lead_id) if a.kind == "assigned"]
    assert assigned == [{"owner_id": None, "owner_name": None, "by": "manual"},
                        {"owner_id": ravi.id, "owner_name": "Ravi Rao", "by": "manual"},
                        {"owner_id": asha.id, "owner_name": "Asha Patil", "by": "manual"}]


def test_bulk_assign_is_for_managers_and_counts_what_changed_hands(app_context, people):
    ids = [add_lead() for _ in range(4)]
    with pytest.raises(NotAllowed):
        pipeline.bulk_assign(ids, people["asha"], people["asha"].id)
    pipeline.assign(ids[0], people["manager"], people["ravi"].id)
    assert pipeline.bulk_assign(ids + [10**9], people["manager"], people["ravi"].id) == 3
    assert {lead(i).owner_id for i in ids} == {people["ravi"].id}
    assert [kinds(i).count("assigned") for i in ids] == [1, 1, 1, 1]


def test_bulk_status_changes_what_the_person_may_change_and_skips_the_rest(app_context, people):
    asha, ravi, manager = people["asha"], people["ravi"], people["manager"]
    mine, theirs, nobodys = add_lead(), add_lead(), add_lead()
    pipeline.assign(mine, manager, asha.id)
    pipeline.assign(theirs, manager, ravi.id)
    assert pipeline.bulk_set_status([mine, theirs, nobodys], asha, "lost", "unreachable") == 2
    assert [lead(i).status for i in (mine, theirs, nobodys)] == ["lost", "new", "lost"]
    with pytest.raises(InvalidChange):
        pipeline.bulk_set_status([theirs], manager, "lost")
    assert pipeline.bulk_set_status([mine, theirs, nobodys], manager, "lost", "unreachable") == 1


def test_first_contact_due_counts_business_minutes_amber_past_half_late_past_the_sla(app_context, people):
    hours = BusinessHours.parse("09:00-20:00")
    lead_id = add_lead(datetime(2026, 12, 1, 4, 30, tzinfo=UTC))  # 10:00 IST
    at = lambda minutes: datetime(2026, 12, 1, 4, 30, tzinfo=UTC) + timedelta(minutes=minutes)  # noqa: E731
    due = [pipeline.first_contact_due(lead(lead_id), at(m), sla_minutes=5, hours=hours) for m in (1, 3, 6)]
    assert [(d.minutes, d.state) for d in due] == [(1, "ok"), (3, "amber"), (6, "late")]
    night = add_lead(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))  # 20:30 IST, after closing
    next_morning = datetime(2026, 12, 2, 3, 32, tzinfo=UTC)  # 09:02 IST
    assert pipeline.first_contact_due(lead(night), next_morning, sla_minutes=5, hours=hours).minutes == 2
    pipeline.record_contact(lead_id, people["asha"], "call")
    assert pipeline.first_contact_due(lead(lead_id), at(60), sla_minutes=5, hours=hours) is None


def test_a_lead_that_does_not_exist_is_an_invalid_change(app_context, people):
    with pytest.raises(InvalidChange, match="no lead #999999"):
        pipeline.set_status(999999, people["manager"], "contacted")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LeadActivity)) == 0
