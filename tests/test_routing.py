"""The router (webapp.leads.routing) on SQLite and PostgreSQL: repeats linked, owners in turn, never a refusal."""
import itertools
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import SAMPLE_LEAD
from tests.factories import add_lead
from tests.servers import start_server, stop
from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads import pipeline
from webapp.leads.models import Lead, LeadActivity
from webapp.leads.routing import route_pending_leads, seconds_until_settled
from webapp.leads.routing_thread import GATHER_SECONDS, Router
from webapp.intake.parts import intake_of

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def sales(make_user):
    """Three sales people on duty, plus accounts that must never get a lead by turn."""
    people = [make_user(f"sales{n}@raam.example", name=f"Sales {n}") for n in range(3)]
    make_user("boss@raam.example", name="Boss", role="manager")
    make_user("away@raam.example", name="Away", on_duty=False)
    make_user("gone@raam.example", name="Gone", active=False)
    return people


def route(app) -> int:
    with app.app_context():
        routed = route_pending_leads(app.config)
        db.session.remove()
        return routed


def stored(app) -> list[Lead]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(Lead).order_by(Lead.id)))
        db.session.expunge_all()
        return rows


def activities(app, kind: str) -> list[LeadActivity]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(LeadActivity).where(LeadActivity.kind == kind)
                                       .order_by(LeadActivity.id)))
        db.session.expunge_all()
        return rows


def add(app, received_at=None, **body) -> int:
    with app.app_context():
        return add_lead(received_at, **body)


def test_new_leads_go_in_turn_to_the_sales_people_on_duty(app, sales):
    for n in range(7):
        add(app, T0 + timedelta(minutes=n), phone_number=f"98765{n:05d}")
    assert route(app) == 7
    owners = [lead.owner_id for lead in stored(app)]
    ids = [person.id for person in sales]
    assert owners == ids + ids + ids[:1]  # in turn, longest without a lead first
    assert all(lead.routed_at is not None and lead.assigned_at is not None for lead in stored(app))
    assigned = activities(app, "assigned")
    assert len(assigned) == 7 and {a.user_id for a in assigned} == {None}  # the system did it
    assert {a.details["by"] for a in assigned} == {"round_robin"}
    assert assigned[0].details["owner_name"] == "Sales 0"
    assert route(app) == 0  # routed once


def test_the_turn_carries_on_across_batches_and_a_newcomer_joins_it(app, sales, make_user):
    add(app, T0, phone_number="9876500001")
    route(app)
    newcomer = make_user("new@raam.example", name="Newcomer")
    for n in range(4):
        add(app, T0 + timedelta(minutes=1 + n), phone_number=f"987650001{n}")
        route(app)
    assert [lead.owner_id for lead in stored(app)] == [sales[0].id, sales[1].id, sales[2].id, newcomer.id,
                                                       sales[0].id]


def test_nobody_on_duty_leaves_the_lead_unassigned_and_routed(app, make_user):
    make_user("away@raam.example", name="Away", on_duty=False)
    add(app)
    assert route(app) == 1
    (lead,) = stored(app)
    assert lead.owner_id is None and lead.routed_at is not None
    assert activities(app, "assigned") == []


def test_manual_assignment_gives_nobody_a_lead_but_still_links_repeats(app_factory, make_user):
    app = app_factory(ASSIGNMENT="manual")
    make_user("sales@raam.example", name="Sales")
    first = add(app, T0)
    repeat = add(app, T0 + timedelta(days=1))
    assert route(app) == 2
    assert [(lead.owner_id, lead.repeat_of) for lead in stored(app)] == [(None, None), (None, first)]
    assert [a.details for a in activities(app, "repeat")] == [{"lead_id": repeat}]


def test_a_repeat_is_stored_answered_201_linked_to_the_first_lead_and_goes_to_its_owner(app, sales, post_lead):
    spellings = ["9876543210", "+91 98765 43210", "098765-43210", 9876543210]
    for spelling in spellings:  # the same person, four ways
        response = post_lead({**SAMPLE_LEAD, "phone_number": spelling})
        assert response.status_code == 201  # never refused
        assert response.get_json() == {"message": "CarDekho lead inserted successfully"}
    add(app, phone_number="9123456789")  # someone else
    route(app)
    first, *repeats, other = stored(app)
    assert first.repeat_of is None and [lead.repeat_of for lead in repeats] == [first.id] * 3
    assert {lead.owner_id for lead in repeats} == {first.owner_id} == {sales[0].id}
    assert other.owner_id == sales[1].id  # repeats do not use up anyone's turn
    assert [a.lead_id for a in activities(app, "repeat")] == [first.id] * 3  # in the first lead's timeline
    assert [a.details["lead_id"] for a in activities(app, "repeat")] == [lead.id for lead in repeats]
    by = [a.details["by"] for a in activities(app, "assigned")]
    assert by == ["round_robin", "repeat", "repeat", "repeat", "round_robin"]


def test_repeats_chain_while_each_enquiry_is_within_the_window(app_factory, sales):
    app = app_factory(REPEAT_WINDOW_DAYS=30)
    a = add(app, T0)
    b = add(app, T0 + timedelta(days=20))
    c = add(app, T0 + timedelta(days=45))  # 25 days after b: still the same chain, linked to its first
    d = add(app, T0 + timedelta(days=80))  # 35 days after c: a new first enquiry
    e = add(app, T0 + timedelta(days=81))
    route(app)
    assert [lead.repeat_of for lead in stored(app)] == [None, a, a, None, d]
    assert b and c and e


def test_numbers_that_are_not_valid_match_on_their_digits_only_among_themselves(app, sales):
    add(app, T0, phone_number="555-0100")
    add(app, T0 + timedelta(hours=1), phone_number="555 0100")
    add(app, T0 + timedelta(hours=2), phone_number="5550101")
    route(app)
    first, same, other = stored(app)
    assert (same.repeat_of, other.repeat_of) == (first.id, None)


@pytest.mark.parametrize("junk", ["12345", "N/A", "0000000000", "9999999999", "1234567890", "98765"])
def test_a_number_that_names_nobody_never_makes_a_repeat(app, sales, junk):
    """Unrelated people who typed the same junk are not one person asking again: each is a first enquiry, takes
    its turn, and its page lists it alone."""
    add(app, T0, phone_number=junk)
    add(app, T0 + timedelta(hours=1), phone_number=junk)
    route(app)
    first, second = stored(app)
    assert (first.repeat_of, second.repeat_of) == (None, None)
    assert {first.owner_id, second.owner_id} == {sales[0].id, sales[1].id}  # each took its turn
    with app.app_context():
        assert [lead.id for lead in pipeline.enquiries_of(db.session.get(Lead, second.id))] == [second.id]


def test_a_repeat_of_a_lead_whose_owner_left_goes_round_robin(app, sales, make_user):
    leaver = make_user("leaver@raam.example", name="Leaver", on_duty=False)
    first = add(app, T0)
    with app.app_context():
        manager = db.session.scalar(sa.select(User).where(User.role == "manager"))
        pipeline.assign(first, manager, leaver.id)
        db.session.execute(sa.update(User).where(User.id == leaver.id).values(active=False))
        db.session.commit()
    route(app)
    add(app, T0 + timedelta(days=1))
    route(app)
    first_lead, repeat = stored(app)
    assert first_lead.owner_id == leaver.id  # the router never takes a lead away
    assert repeat.repeat_of == first and repeat.owner_id == sales[0].id


def test_a_lead_stored_late_from_the_spool_is_linked_as_the_first_when_both_wait(app, sales):
    later = add(app, T0 + timedelta(hours=2))  # stored first
    earlier = add(app, T0)  # received earlier, stored after it (a spooled lead)
    route(app)
    leads = {lead.id: lead for lead in stored(app)}
    assert leads[earlier].repeat_of is None and leads[later].repeat_of == earlier
    assert leads[later].owner_id == leads[earlier].owner_id


def test_a_lead_typed_in_and_taken_keeps_its_owner_and_is_still_linked_as_a_repeat(app, sales):
    first = add(app, datetime.now(UTC) - timedelta(days=1), phone_number="9123456789")
    route(app)
    with app.app_context():
        taker = db.session.get(User, sales[2].id)
        lead = pipeline.create_manual_lead(taker, "Asha", "+91 91234 56789", "MG Windsor EV", "walk_in", take=True)
        assert (lead.owner_id, lead.routed_at) == (sales[2].id, None)
    route(app)
    first_lead, walk_in = stored(app)
    assert (first_lead.owner_id, walk_in.owner_id) == (sales[0].id, sales[2].id)
    assert walk_in.repeat_of == first and walk_in.routed_at is not None


def test_every_lead_gets_an_owner_within_5_seconds_through_the_webhook_and_the_spool(app_factory, sales,
                                                                                      tmp_path):
    app = app_factory(ROUTE_INTERVAL=1, SPOOL_DRAIN_INTERVAL=0)
    client = app.test_client()
    from config import GUIDE_API_KEY
    from tests.conftest import WEBHOOK
    from webapp.intake.spool import SpooledLead
    from webapp.leads.lead_row import new_intake_id

    intake_of(app).spool.write(SpooledLead(new_intake_id(), "CarDekho", datetime.now(UTC),
                                     {"name": "From the spool", "phone_number": "9123456780"}, {}))
    received = time.monotonic()
    assert client.post(WEBHOOK, json={"name": "Live", "phone_number": "9123456781"},
                       headers={"X-API-Key": GUIDE_API_KEY}).status_code == 201
    from webapp.intake.drain import drain_spool

    drain_spool(intake_of(app).spool, intake_of(app).engine)  # what the drain thread or `flask spool drain` does
    try:
        deadline = received + 5
        while time.monotonic() < deadline and any(lead.owner_id is None for lead in stored(app)):
            time.sleep(0.1)
        assert [lead.owner_id is not None for lead in stored(app)] == [True, True]
    finally:
        app.extensions["lead_router"].stop()
        intake_of(app).drainer.stop()


def test_two_repeats_routed_in_one_batch_both_go_to_the_first_leads_owner(app, sales):
    first = add(app, T0)
    route(app)
    add(app, T0 + timedelta(days=1))
    add(app, T0 + timedelta(days=2))
    assert route(app) == 2  # one batch
    assert [(lead.repeat_of, lead.owner_id) for lead in stored(app)] == \
        [(None, sales[0].id), (first, sales[0].id), (first, sales[0].id)]


def test_with_settled_seconds_the_router_waits_for_the_oldest_lead_then_routes_every_waiting_one(app, sales):
    now = datetime.now(UTC)
    add(app, now, phone_number="9876500011")
    with app.app_context():
        assert route_pending_leads(app.config, settled_seconds=60) == 0  # nothing has waited a minute yet
    assert [lead.owner_id for lead in stored(app)] == [None]
    add(app, now - timedelta(minutes=2), phone_number="9876500012")  # e.g. from the spool
    with app.app_context():
        assert route_pending_leads(app.config, settled_seconds=60) == 2  # the young one goes with it
    leads = stored(app)
    assert all(lead.owner_id for lead in leads) and len({lead.routed_at for lead in leads}) == 1


def test_a_lead_stamped_ahead_of_the_routers_clock_is_routed_at_once(app, sales):
    """A webhook host whose clock runs a minute ahead: its lead must not wait for the router's clock to catch up."""
    add(app, datetime.now(UTC) + timedelta(minutes=1), phone_number="9876500013")
    with app.app_context():
        assert seconds_until_settled(GATHER_SECONDS) == 0
        assert route_pending_leads(app.config, settled_seconds=GATHER_SECONDS) == 1
        assert seconds_until_settled(GATHER_SECONDS) is None  # nothing waits now


def test_a_stream_of_leads_woken_in_every_worker_is_routed_in_few_transactions_each_within_5_s(app, sales):
    """A worker's webhook wakes its own router for each lead it stores; three routers (three workers) woken in turn
    must not split a stream into a transaction per few leads: at most one per GATHER_SECONDS, every owner within
    5 s."""
    routers = [Router(app, 1.0) for _ in range(3)]
    for router in routers:
        router.ensure_running()
    try:
        started = time.monotonic()
        for n in itertools.count():  # about 40 leads in 2 s, each arriving at one worker and waking its router
            if time.monotonic() - started > 2.0:
                break
            add(app, None, phone_number=f"98765{n:05d}")
            routers[n % len(routers)].nudge()
            time.sleep(0.05)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(lead.owner_id is None for lead in stored(app)):
            time.sleep(0.1)
    finally:
        for router in routers:
            router.stop()
    leads = stored(app)
    assert len(leads) >= 10 and all(lead.owner_id for lead in leads)  # about 40; fewer on a slow machine
    assert max(lead.assigned_at - lead.created_at for lead in leads) < timedelta(seconds=5)
    # Transactions start about GATHER_SECONDS apart (less only by the moments between a lead's stamp and its
    # commit): here 3 for 2 s of arrivals on both databases. Before the settling rule each router routed what had
    # come by the end of its own wait, and these made 7, some a few milliseconds apart.
    started_at = sorted({lead.routed_at for lead in leads})
    arriving = max(lead.created_at for lead in leads) - min(lead.created_at for lead in leads)
    assert len(started_at) <= arriving / timedelta(seconds=GATHER_SECONDS) + 1
    assert min(later - earlier for earlier, later in itertools.pairwise(started_at)) >= timedelta(
        seconds=GATHER_SECONDS / 2)


def test_flask_leads_route_routes_what_waits(app, sales):
    for n in range(3):
        add(app, T0 + timedelta(minutes=n), phone_number=f"98765{n:05d}")
    result = app.test_cli_runner().invoke(args=["leads", "route"])
    assert result.exit_code == 0 and result.output.strip() == "Routed 3 lead(s)."
    assert all(lead.owner_id for lead in stored(app))


def test_flask_leads_route_work_is_a_router_process_of_its_own(app, sales):
    """`flask leads route-work` (for ROUTE_INTERVAL=0 on the web service): routes what waits, and keeps routing."""
    add(app, T0, phone_number="9876500001")
    env = {"APP_ENV": "development", "SECRET_KEY": "route-work-test-secret",
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "ROUTE_INTERVAL": "0.2"}
    process = start_server("flask leads route-work", [sys.executable, "-m", "flask", "--app", "run", "leads",
                                                      "route-work"], None, env)

    def owned_within_60_s(expected: int) -> int:  # the process's start and app build included
        deadline = time.monotonic() + 60
        while sum(lead.owner_id is not None for lead in stored(app)) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        return sum(lead.owner_id is not None for lead in stored(app))

    try:
        assert owned_within_60_s(1) == 1  # the lead that waited
        add(app, T0 + timedelta(minutes=1), phone_number="9876500002")
        assert owned_within_60_s(2) == 2  # and one that arrived while it runs
    finally:
        output = stop(process)
    assert "routing waiting leads every 0.2 s" in output and "Traceback" not in output


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # query plans are PostgreSQL's
def test_a_batch_is_claimed_with_each_leads_earlier_enquiry_by_index_probes(app):
    """The router's one statement: the waiting leads from their partial index, and each one's earlier enquiry
    by one probe of the phone index (a valid number) or the digits index (any other), never a scan."""
    with app.app_context():
        # 50,000 routed leads (every 10th number a repeat, every 7th not a valid number) and 100 waiting.
        db.session.execute(sa.text(
            """INSERT INTO "mg-digital-leads" (platform, name, phone_number, phone_normalized, car_model, payload,
                                               created_at, routed_at)
               SELECT 'CarDekho', 'n' || g, '9' || lpad((g % 45000)::text, 9, '0'),
                      CASE WHEN g % 7 = 0 THEN NULL ELSE '+919' || lpad((g % 45000)::text, 9, '0') END,
                      'MG Hector', '{}', now() - make_interval(secs => 50100 - g),
                      CASE WHEN g <= 50000 THEN now() END
               FROM generate_series(1, 50100) g"""))
        db.session.execute(sa.text('ANALYZE "mg-digital-leads"'))
        db.session.commit()
        from webapp.leads.routing import CLAIM_WAITING

        compiled = CLAIM_WAITING.compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = "\n".join(db.session.scalars(sa.text(f"EXPLAIN {compiled}")))
        db.session.rollback()
    assert "Seq Scan" not in plan, plan
    for index in ("ix_mg-digital-leads_unrouted", "ix_mg-digital-leads_phone_normalized_created_at_id",
                  "ix_mg-digital-leads_phone_digits_created_at_id"):
        assert index in plan, (index, plan)
