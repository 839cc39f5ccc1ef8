"""`flask simulate`: traffic against the running system, so that the demo is alive.

Constituents write in on every channel (through the real intake), agents answer offers (mostly accept,
sometimes decline, now and then let one time out), resolve cases and change presence. Everything goes
through the same entry points as production: `channels.intake.ingest`, `routing.request_assignment`
(the workers route) and `routing.perform` for the agents' steps. Logs ids only.
"""
import itertools
import logging
import random
import time
from dataclasses import dataclass, field

from redis import Redis
from sqlalchemy import select

import routing
from channels.base import ContactAddress, NormalizedContact
from channels.intake import ingest
from models import (
    Case,
    CaseStatus,
    Category,
    Channel,
    ContactKind,
    DecisionOutcome,
    Presence,
    QueueMember,
    RoutingDecision,
    transaction,
)
from routing import engine
from routing import presence as sockets

log = logging.getLogger(__name__)

CHANNEL_WEIGHTS = {Channel.EMAIL: 40, Channel.WEBFORM: 20, Channel.PHONE: 20, Channel.CHAT: 12, Channel.OPEN311: 8}
LANGUAGE_WEIGHTS = {"en": 70, "es": 22, "it": 8}
SUBJECTS = ("Missed bin collection", "Pothole on my street", "Question about my benefit claim",
            "Licence renewal", "Streetlight out", "Noise complaint", "Housing repair request")


@dataclass
class Tally:
    opened: int = 0
    accepted: int = 0
    declined: int = 0
    resolved: int = 0
    presence_changes: int = 0
    counts: dict = field(default_factory=dict)


def _weighted(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def open_contact(rng: random.Random, serial: int, category_codes: list[str]) -> int:
    """One constituent contact through the real intake; returns the case id. Commits."""
    channel = _weighted(rng, CHANNEL_WEIGHTS)
    kind = ContactKind.PHONE if channel is Channel.PHONE else ContactKind.CHAT if channel is Channel.CHAT \
        else ContactKind.EMAIL
    value = f"+1555{serial % 10_000_000:07d}" if kind is ContactKind.PHONE else f"sim{serial}@residents.example"
    contact = NormalizedContact(channel=channel, sender=ContactAddress(kind, value, ""),
                                subject=rng.choice(SUBJECTS), body_text="(simulated contact)",
                                external_id=f"sim-{time.time_ns()}-{serial}", language=_weighted(rng, LANGUAGE_WEIGHTS),
                                category_code=rng.choice(category_codes) if category_codes else None)
    with transaction() as session:
        return ingest(session, contact).case_id


def simulated_agents(redis: Redis, agents: list[int]) -> list[int]:
    """The agents the simulator may act for: not those with a console open, whom a person is driving."""
    return [user_id for user_id in agents if not sockets.open_sockets(redis, user_id)]


def answer_offers(redis: Redis, rng: random.Random, agents: list[int], tally: Tally) -> None:
    """Agents answer open offers: most accept, some decline, a few let the offer time out."""
    with transaction() as session:
        offers = session.execute(select(RoutingDecision.id, RoutingDecision.user_id)
                                 .where(RoutingDecision.outcome == DecisionOutcome.OFFERED,
                                        RoutingDecision.user_id.in_(agents)).limit(20)).all()
    for offer_id, user_id in offers:
        roll = rng.random()
        if roll < 0.8:
            tally.accepted += bool(routing.perform(redis, engine.accept_offer, offer_id, user_id).assigned)
        elif roll < 0.9:
            routing.perform(redis, engine.decline_offer, offer_id, user_id)
            tally.declined += 1


def resolve_some(redis: Redis, rng: random.Random, agents: list[int], tally: Tally, share: float) -> None:
    """Agents finish work: a share of the assigned cases is resolved, freeing slots for waiting cases."""
    with transaction() as session:
        owned = session.execute(select(Case.id).where(Case.status == CaseStatus.ASSIGNED, Case.assignee_id.in_(agents),
                                                      Case.slot_channel.is_not(None))).scalars().all()
    for case_id in rng.sample(owned, int(len(owned) * share)):
        routing.perform(redis, engine.resolve, case_id)
        tally.resolved += 1


def change_presence(redis: Redis, rng: random.Random, agents: list[int], tally: Tally) -> None:
    user_id = rng.choice(agents)
    presence = rng.choices([Presence.AVAILABLE, Presence.AWAY, Presence.OFFLINE], weights=[80, 12, 8])[0]
    routing.perform(redis, engine.set_presence, user_id, presence)
    tally.presence_changes += 1


def run(redis: Redis, rate: float, duration: float, seed: int | None = None) -> Tally:
    """Simulate `rate` new contacts per second for `duration` seconds against the configured engines."""
    rng = random.Random(seed)
    with transaction() as session:
        category_codes = session.execute(select(Category.code).where(Category.is_public)).scalars().all()
        agents = sorted(set(session.execute(select(QueueMember.user_id)).scalars()))
    if not agents:
        raise ValueError("no agent is a member of a queue: run `flask seed-demo` first")
    for user_id in simulated_agents(redis, agents):
        routing.perform(redis, engine.set_presence, user_id, Presence.AVAILABLE)
    tally, deadline, serial = Tally(), time.monotonic() + duration, itertools.count(int(time.time()))
    next_contact = time.monotonic()
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_contact:
            case_id = open_contact(rng, next(serial), category_codes)
            routing.request_assignment(redis, case_id)
            tally.opened += 1
            next_contact = now + rng.expovariate(rate)
        acting = simulated_agents(redis, agents)
        answer_offers(redis, rng, acting, tally)
        if rng.random() < 0.2:
            resolve_some(redis, rng, acting, tally, share=0.05)
        if rng.random() < 0.05 and acting:
            change_presence(redis, rng, acting, tally)
        time.sleep(min(0.2, max(0.0, next_contact - time.monotonic())))
    log.info("simulation: %s opened, %s accepted, %s declined, %s resolved, %s presence changes",
             tally.opened, tally.accepted, tally.declined, tally.resolved, tally.presence_changes)
    return tally
