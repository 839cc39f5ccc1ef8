"""The routing engine on the database: strategies, offers, presence, release, overflow, supervisors' hand."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from models import (
    Case,
    CaseStatus,
    Channel,
    DecisionKind,
    DecisionOutcome,
    Presence,
    Priority,
    QueueMember,
    RoutingDecision,
    User,
    UserCapacity,
    utcnow,
)
from routing import engine, explain
from tests.routing.builders import make_agent, make_routed_queue, open_case, slots_held


def _decisions(session, case_id):
    return session.execute(select(RoutingDecision).where(RoutingDecision.case_id == case_id)
                           .order_by(RoutingDecision.id)).scalars().all()


def _case(session, case_id) -> Case:
    session.expire_all()          # engine steps write with Core UPDATEs: reload what the ORM holds
    return session.get(Case, case_id)


def _used(session, user_id, channel):
    return session.execute(select(UserCapacity.used).where(UserCapacity.user_id == user_id,
                                                           UserCapacity.channel == channel)).scalar_one()


@pytest.fixture
def benefits(db_session):
    queue = make_routed_queue(db_session, "benefits", skills=[("benefits", True), ("housing", False)])
    maria = make_agent(db_session, "Maria Garcia", [queue], skills={"benefits": 3, "housing": 1},
                       languages=("en", "es"))
    james = make_agent(db_session, "James Okafor", [queue], skills={"benefits": 2, "housing": 2})
    away = make_agent(db_session, "Ada Away", [queue], skills={"benefits": 1, "housing": 1},
                      languages=("es",), presence=Presence.OFFLINE)
    db_session.commit()
    return queue, maria, james, away


def test_an_email_goes_to_the_least_loaded_agent_who_speaks_its_language(db_session, benefits):
    _queue, maria, james, _away = benefits
    busy = open_case(db_session, "benefits", language="en")
    engine.route_case(db_session, busy.id)            # both free: the tie goes to the lower id (Maria)
    spanish = open_case(db_session, "benefits", language="es")
    english = open_case(db_session, "benefits", language="en")
    effects = engine.route_case(db_session, spanish.id)
    effects.merge(engine.route_case(db_session, english.id))
    db_session.commit()
    assert effects.assigned == [(spanish.id, maria.id, spanish.queue_id), (english.id, james.id, english.queue_id)]
    assert _case(db_session, spanish.id).status is CaseStatus.ASSIGNED
    assert _used(db_session, maria.id, Channel.EMAIL) == 2 == slots_held(db_session, maria.id, Channel.EMAIL)
    decision = _decisions(db_session, spanish.id)[-1]
    assert decision.explanation["filtered"] == {"presence": 1, "language": 1}
    assert explain.describe(decision) == (
        "Assigned to Maria Garcia: speaks Spanish, has skill 'benefits', has skill 'housing', "
        "1 of 8 email slots used; 2 others considered, 1 offline, 1 without Spanish.")


def test_a_routed_case_is_stored_with_its_holder_slot_activity_and_update_time(db_session, benefits):
    """Read back from the database, not from the session's objects: an assigned case is active as of the
    decision; an offered one keeps its last activity (nobody has it yet). Both are marked updated."""
    _queue, maria, _james, _away = benefits
    email = open_case(db_session, "benefits", language="es")
    chat = open_case(db_session, "benefits", channel=Channel.CHAT, language="es")
    earlier = utcnow() - timedelta(hours=1)
    for case in (email, chat):
        case.last_activity_at = case.updated_at = earlier
    db_session.commit()
    now = utcnow()
    engine.route_case(db_session, email.id, now)
    engine.route_case(db_session, chat.id, now)
    db_session.commit()
    db_session.expire_all()
    stored = {row.id: row for row in db_session.execute(
        select(Case.id, Case.assignee_id, Case.offered_to_id, Case.slot_channel, Case.last_activity_at,
               Case.updated_at).where(Case.id.in_([email.id, chat.id])))}
    assert tuple(stored[email.id])[1:5] == (maria.id, None, Channel.EMAIL, now)
    assert tuple(stored[chat.id])[1:5] == (None, maria.id, Channel.CHAT, earlier)
    assert stored[email.id].updated_at >= now and stored[chat.id].updated_at >= now


def test_round_robin_and_best_match_pick_by_their_own_measure(db_session):
    rr = make_routed_queue(db_session, "licences", strategy="round_robin")
    best = make_routed_queue(db_session, "tax", skills=[("tax", True)], strategy="best_match")
    first = make_agent(db_session, "First", [rr, best], skills={"tax": 1})
    second = make_agent(db_session, "Second", [rr, best], skills={"tax": 3})
    db_session.get(User, first.id).last_assigned_at = utcnow()
    db_session.get(User, second.id).last_assigned_at = utcnow() - timedelta(hours=1)
    db_session.commit()
    licence = open_case(db_session, "licences")
    assert engine.route_case(db_session, licence.id).assigned[0][1] == second.id     # waited longest
    licence2 = open_case(db_session, "licences")
    assert engine.route_case(db_session, licence2.id).assigned[0][1] == first.id     # now first waited longest
    tax = open_case(db_session, "tax")
    assert engine.route_case(db_session, tax.id).assigned[0][1] == second.id         # level 3 beats level 1
    assert _decisions(db_session, tax.id)[-1].explanation["scores"][0] == {
        "user_id": second.id, "score": 3.0, "used": 1, "slots": 8}


def test_a_chat_is_offered_and_becomes_the_agents_when_accepted(db_session, benefits):
    _queue, maria, _james, _away = benefits
    chat = open_case(db_session, "benefits", channel=Channel.CHAT, language="es")
    effects = engine.route_case(db_session, chat.id)
    db_session.commit()
    [offer] = effects.offered
    assert (offer.case_id, offer.user_id) == (chat.id, maria.id)
    assert offer.expires_at - utcnow() > timedelta(seconds=25)
    case = _case(db_session, chat.id)
    assert (case.status, case.assignee_id, case.offered_to_id) == (CaseStatus.NEW, None, maria.id)
    assert _used(db_session, maria.id, Channel.CHAT) == 1                  # the offer holds the slot
    with pytest.raises(engine.RoutingError):
        engine.accept_offer(db_session, offer.decision_id, maria.id + 1)
    db_session.rollback()
    assert engine.accept_offer(db_session, offer.decision_id, maria.id).assigned == [(chat.id, maria.id, chat.queue_id)]
    db_session.commit()
    case = _case(db_session, chat.id)
    assert (case.status, case.assignee_id, case.offered_to_id) == (CaseStatus.ASSIGNED, maria.id, None)
    assert _used(db_session, maria.id, Channel.CHAT) == 1
    assert engine.accept_offer(db_session, offer.decision_id, maria.id).assigned == []   # answered already


def test_an_accept_and_a_resolve_leave_the_objects_the_session_holds_as_the_database_has_them(db_session, benefits):
    """A console request holds the case, the agent's capacity and the offer as objects when it accepts or
    resolves; the steps write with Core UPDATEs and give those objects the values written (the time of the
    update too), as the ORM's own UPDATE would. Each compared with the row read afresh."""
    _queue, maria, _james, _away = benefits
    chat = open_case(db_session, "benefits", channel=Channel.CHAT, language="es")
    [offer] = engine.route_case(db_session, chat.id).offered
    db_session.commit()
    rows = {Case: Case.id == chat.id, RoutingDecision: RoutingDecision.id == offer.decision_id,
            UserCapacity: (UserCapacity.user_id == maria.id) & (UserCapacity.channel == Channel.CHAT)}
    held = [db_session.execute(select(model).where(row)).scalar_one() for model, row in rows.items()]
    columns = {Case: ("status", "assignee_id", "offered_to_id", "slot_channel", "last_activity_at", "resolved_at",
                      "updated_at"), RoutingDecision: ("outcome", "responded_at"), UserCapacity: ("used",)}

    def as_held_and_stored():
        seen = [tuple(getattr(row, name) for name in columns[type(row)]) for row in held]
        stored = [tuple(db_session.execute(select(*(getattr(model, name) for name in names)).where(rows[model])).one())
                  for model, names in columns.items()]
        return seen, stored

    accepted_at = utcnow()
    engine.accept_offer(db_session, offer.decision_id, maria.id, accepted_at)
    seen, stored = as_held_and_stored()
    assert seen == stored
    assert seen[0][:4] == (CaseStatus.ASSIGNED, maria.id, None, Channel.CHAT) and seen[0][-1] == accepted_at
    assert seen[1] == (DecisionOutcome.ACCEPTED, accepted_at)
    resolved_at = utcnow()
    engine.resolve(db_session, chat.id, resolved_at)
    seen, stored = as_held_and_stored()
    assert seen == stored
    assert seen[0] == (CaseStatus.RESOLVED, maria.id, None, None, resolved_at, resolved_at, resolved_at)
    assert seen[2] == (0,)
    db_session.commit()


def test_a_declined_or_unanswered_offer_goes_to_the_next_agent_and_not_back(db_session, benefits):
    _queue, maria, james, _away = benefits
    phone = open_case(db_session, "benefits", channel=Channel.PHONE, language="en")
    first = engine.route_case(db_session, phone.id).offered[0]
    db_session.commit()
    declined = engine.decline_offer(db_session, first.decision_id, first.user_id)
    db_session.commit()
    second = declined.offered[0]
    assert {first.user_id, second.user_id} == {maria.id, james.id}
    assert _used(db_session, first.user_id, Channel.PHONE) == 0
    assert engine.expire_offer(db_session, second.decision_id).offered == []    # not due yet
    timed_out = engine.expire_offer(db_session, second.decision_id, now=second.expires_at + timedelta(seconds=1))
    db_session.commit()
    assert timed_out.offered == [] and timed_out.closed_offers == [(second.decision_id, phone.id, second.user_id)]
    outcomes = [(d.outcome, d.user_id) for d in _decisions(db_session, phone.id)]
    assert outcomes == [(DecisionOutcome.DECLINED, first.user_id), (DecisionOutcome.TIMED_OUT, second.user_id),
                        (DecisionOutcome.NO_CANDIDATE, None)]
    last = _decisions(db_session, phone.id)[-1]
    assert last.explanation["filtered"]["declined"] == 2
    assert "2 declined it before" in explain.describe(last)
    assert "declined by" in explain.describe(_decisions(db_session, phone.id)[0])


def test_a_decline_holds_in_the_queue_it_was_made_in_and_not_after_a_transfer(db_session, benefits):
    """The case remembers its last decline (`declined_at`), which routing checks before it reads the declines:
    in the queue both agents declined it, nobody is left; transferred, it may go to either again."""
    _queue, maria, james, _away = benefits
    phone = open_case(db_session, "benefits", channel=Channel.PHONE, language="en")
    offer = engine.route_case(db_session, phone.id).offered[0]
    declined_at = []
    for _ in range(2):
        effects = engine.decline_offer(db_session, offer.decision_id, offer.user_id)
        db_session.commit()
        declined_at.append(_case(db_session, phone.id).declined_at)
        offer = effects.offered[0] if effects.offered else None
    assert offer is None and declined_at[0] is not None and declined_at[1] >= declined_at[0]
    callbacks = make_routed_queue(db_session, "callbacks")
    make_agent(db_session, "Tess Third", [callbacks], presence=Presence.OFFLINE)
    for agent in (maria, james):
        db_session.add(QueueMember(queue_id=callbacks.id, user_id=agent.id))
    db_session.commit()
    moved = engine.transfer(db_session, phone.id, callbacks.id)
    db_session.commit()
    assert [o.user_id for o in moved.offered] == [maria.id]          # least loaded, the tie to the lower id
    assert _decisions(db_session, phone.id)[-1].explanation["filtered"] == {"presence": 1}


def test_going_offline_reroutes_open_offers_and_coming_back_pulls_waiting_work(db_session, benefits):
    _queue, maria, james, away = benefits
    chat = open_case(db_session, "benefits", channel=Channel.CHAT, language="es")
    offer = engine.route_case(db_session, chat.id).offered[0]
    db_session.commit()
    assert offer.user_id == maria.id
    effects = engine.set_presence(db_session, maria.id, Presence.OFFLINE)
    db_session.commit()
    assert effects.closed_offers == [(offer.decision_id, chat.id, maria.id)]
    assert effects.offered == []                      # nobody else speaks Spanish and is available
    assert _used(db_session, maria.id, Channel.CHAT) == 0
    assert _decisions(db_session, chat.id)[0].outcome is DecisionOutcome.CANCELLED
    back = engine.set_presence(db_session, away.id, Presence.AVAILABLE)
    assert back.freed == {away.id}
    filled = engine.fill(db_session, away.id)
    db_session.commit()
    assert [(o.case_id, o.user_id) for o in filled.offered] == [(chat.id, away.id)]


def test_a_freed_slot_takes_the_most_urgent_then_longest_waiting_case(db_session):
    queue = make_routed_queue(db_session, "streets")
    agent = make_agent(db_session, "Hannah", [queue], capacity={"email": 1})
    db_session.commit()
    held = open_case(db_session, "streets")
    engine.route_case(db_session, held.id)
    old = open_case(db_session, "streets")
    old.queued_at = utcnow() - timedelta(hours=2)
    newer_urgent = open_case(db_session, "streets", priority=Priority.URGENT)
    oldest = open_case(db_session, "streets")
    oldest.queued_at = utcnow() - timedelta(hours=3)
    db_session.flush()
    for case in (old, newer_urgent, oldest):
        assert engine.route_case(db_session, case.id).assigned == []
    db_session.commit()
    freed = engine.resolve(db_session, held.id)
    assert freed.freed == {agent.id}
    order = []
    for _ in range(3):
        effects = engine.fill(db_session, agent.id)
        assert effects.freed == {agent.id}              # one case per transaction; the caller goes on
        order += [case_id for case_id, _u, _q in effects.assigned]
        engine.resolve(db_session, order[-1])
    assert engine.fill(db_session, agent.id).freed == set()
    db_session.commit()
    assert order == [newer_urgent.id, oldest.id, old.id]


def test_a_freed_slot_weighs_its_agents_queues_and_passes_over_cases_they_lack_a_skill_for(db_session):
    """Hannah serves three queues. At one case priority, the higher queue's case comes first though it arrived
    last. In the queue where she lacks a non-essential skill she takes only a case whose needs were relaxed:
    the older case there is never tried for her (no decision on it)."""
    permits = make_routed_queue(db_session, "permits", priority=0)
    housing = make_routed_queue(db_session, "housing", priority=2)
    benefits = make_routed_queue(db_session, "benefits", skills=[("benefits", True), ("welsh", False)])
    agent = make_agent(db_session, "Hannah", [permits, housing, benefits], skills={"benefits": 1},
                       capacity={"email": 1})
    db_session.commit()
    held = open_case(db_session, "permits")
    engine.route_case(db_session, held.id)
    now = utcnow()
    waiting = {name: open_case(db_session, queue, is_skill_relaxed=relaxed)
               for name, queue, relaxed in [("unrelaxed", "benefits", False), ("early permit", "permits", False),
                                            ("relaxed", "benefits", True), ("late housing", "housing", False)]}
    for hours, case in zip((5, 3, 2, 1), waiting.values()):
        case.queued_at = now - timedelta(hours=hours)
    db_session.flush()
    for case in waiting.values():
        assert engine.route_case(db_session, case.id).assigned == []
    db_session.commit()
    tried_before = {name: len(_decisions(db_session, case.id)) for name, case in waiting.items()}
    engine.resolve(db_session, held.id)
    order = []
    while effects := engine.fill(db_session, agent.id).assigned:
        order += [case_id for case_id, _u, _q in effects]
        engine.resolve(db_session, order[-1])
    db_session.commit()
    names = {case.id: name for name, case in waiting.items()}
    assert [names[case_id] for case_id in order] == ["late housing", "early permit", "relaxed"]
    assert len(_decisions(db_session, waiting["unrelaxed"].id)) == tried_before["unrelaxed"]


def test_overflow_moves_a_waiting_case_keeping_its_arrival_or_drops_optional_skills(db_session):
    general = make_routed_queue(db_session, "general")
    streets = make_routed_queue(db_session, "streets", overflow_after_seconds=60)
    streets.overflow_queue_id = general.id
    benefits = make_routed_queue(db_session, "benefits", skills=[("benefits", True), ("housing", False)],
                                 overflow_after_seconds=60)
    helper = make_agent(db_session, "Gina", [general, benefits], skills={"benefits": 1})
    db_session.commit()
    street = open_case(db_session, "streets")
    claim = open_case(db_session, "benefits")
    waiting = engine.route_case(db_session, street.id).merge(engine.route_case(db_session, claim.id)).waiting
    db_session.commit()
    arrival = street.queued_at
    assert [(c, q) for c, q, _at in waiting] == [(street.id, streets.id), (claim.id, benefits.id)]
    assert engine.overflow(db_session, street.id, streets.id).assigned == []          # not due
    later = utcnow() + timedelta(seconds=61)
    moved = engine.overflow(db_session, street.id, streets.id, now=later)
    relaxed = engine.overflow(db_session, claim.id, benefits.id, now=later)
    db_session.commit()
    assert moved.assigned == [(street.id, helper.id, general.id)]
    assert relaxed.assigned == [(claim.id, helper.id, benefits.id)]
    street = _case(db_session, street.id)
    assert (street.queue_id, street.queued_at) == (general.id, arrival)
    overflow = [d for d in _decisions(db_session, claim.id) if d.kind is DecisionKind.OVERFLOW][0]
    assert explain.describe(overflow).endswith("no longer needs the non-essential skills 'housing'.")


def test_a_supervisor_assigns_returns_and_the_engine_respects_it(db_session, benefits):
    _queue, maria, james, _away = benefits
    case = open_case(db_session, "benefits")
    engine.route_case(db_session, case.id)
    db_session.commit()
    assert _case(db_session, case.id).assignee_id == maria.id
    effects = engine.assign_manually(db_session, case.id, james.id, by_user_id=maria.id)
    db_session.commit()
    assert effects.assigned == [(case.id, james.id, case.queue_id)] and effects.freed == {maria.id}
    assert (_used(db_session, maria.id, Channel.EMAIL), _used(db_session, james.id, Channel.EMAIL)) == (0, 1)
    assert engine.route_case(db_session, case.id).assigned == []                # owned: left alone
    assert explain.describe(_decisions(db_session, case.id)[-1]) == "Assigned by hand to James Okafor."
    db_session.get(UserCapacity, (maria.id, Channel.EMAIL)).slots = 0
    db_session.commit()
    with pytest.raises(engine.RoutingError):
        engine.assign_manually(db_session, case.id, maria.id)
    db_session.rollback()
    returned = engine.return_to_queue(db_session, case.id, by_user_id=maria.id)
    db_session.commit()
    assert returned.assigned == [(case.id, james.id, case.queue_id)]     # Maria is full now
    assert "Returned to the queue" in explain.describe(_decisions(db_session, case.id)[-2])


def test_an_offline_agents_unanswered_cases_return_after_the_delay(db_session, benefits):
    _queue, maria, james, _away = benefits
    answered, unanswered = open_case(db_session, "benefits"), open_case(db_session, "benefits")
    for case in (answered, unanswered):
        engine.assign_manually(db_session, case.id, maria.id)
    _case(db_session, answered.id).first_responded_at = utcnow()
    db_session.commit()
    effects = engine.set_presence(db_session, maria.id, Presence.OFFLINE)
    db_session.commit()
    [(_user, _presence, since)] = effects.presence
    returned = engine.return_unanswered(db_session, maria.id, since)
    db_session.commit()
    assert returned.assigned == [(unanswered.id, james.id, unanswered.queue_id)]
    assert _case(db_session, answered.id).assignee_id == maria.id
    assert engine.return_unanswered(db_session, maria.id, since - timedelta(seconds=1)).assigned == []


def test_reconcile_recounts_slots_from_cases(db_session, benefits):
    _queue, maria, _james, _away = benefits
    case = open_case(db_session, "benefits")
    engine.route_case(db_session, case.id)
    db_session.get(UserCapacity, (maria.id, Channel.EMAIL)).used = 7
    db_session.commit()
    assert engine.reconcile(db_session, maria.id) == {Channel.EMAIL: 1}
    db_session.commit()
    assert _used(db_session, maria.id, Channel.EMAIL) == 1


def test_a_batch_of_waiting_cases_is_routed_in_one_step_with_a_decision_and_explanation_each(db_session, benefits):
    queue, maria, james, _away = benefits
    for agent in (maria, james):
        db_session.get(UserCapacity, (agent.id, Channel.EMAIL)).slots = 2
    now = utcnow()
    spanish = open_case(db_session, "benefits", language="es", priority=Priority.URGENT, queued_at=now)
    english = [open_case(db_session, "benefits", language="en", queued_at=now + timedelta(seconds=n))
               for n in range(4)]
    db_session.commit()
    effects = engine.route_waiting(db_session, queue.id, limit=10, now=now + timedelta(minutes=1))
    db_session.commit()
    assert effects.assigned[0] == (spanish.id, maria.id, queue.id)          # urgent first, only Maria speaks es
    assert [owner for _case_id, owner, _q in effects.assigned] == [maria.id, james.id, maria.id, james.id]
    assert _used(db_session, maria.id, Channel.EMAIL) == slots_held(db_session, maria.id, Channel.EMAIL) == 2
    assert _used(db_session, james.id, Channel.EMAIL) == slots_held(db_session, james.id, Channel.EMAIL) == 2
    picks = [_decisions(db_session, case.id) for case in (spanish, *english)]
    assert all(len(decisions) == 1 for decisions in picks)
    loads = [d[0].explanation["pick"]["used"] for d in picks[:4]]
    assert loads == [0, 0, 1, 1]                        # the load seen by each decision counts the batch's own
    last = picks[4][0]
    assert last.outcome is DecisionOutcome.NO_CANDIDATE and last.explanation["filtered"]["capacity"] == 2
    assert "2 at capacity" in explain.describe(last)
    assert engine.route_waiting(db_session, queue.id).assigned == []      # only the last waits, and nobody is free
