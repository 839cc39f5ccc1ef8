"""`flask seed-demo`: a deterministic city service centre (Riverton 311) to demo and test against.

Same seed and same day, same data. Everything is inserted in bulk: 10,000 cases take seconds.
"""
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import phonenumbers
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from caseworker import accounts
from caseworker import demo_content as content
from routing import sla
from models import (
    OPEN_STATUSES,
    AttributeDatatype,
    BusinessCalendar,
    Case,
    CaseStatus,
    Category,
    Channel,
    Constituent,
    ConstituentKind,
    ContactKind,
    ContactPoint,
    DecisionKind,
    DecisionOutcome,
    DeliveryStatus,
    Direction,
    Interaction,
    InteractionKind,
    Presence,
    Priority,
    Queue,
    QueueMember,
    QueueSkill,
    ReferenceCounter,
    Role,
    RoutingDecision,
    RoutingStrategy,
    ServiceAttribute,
    Skill,
    SlaEvent,
    SlaKind,
    SlaPolicy,
    SlaStage,
    SurveyResponse,
    User,
    UserCapacity,
    UserSkill,
)

DEMO_PASSWORD = "casework-demo"
DEMO_DOMAIN = "riverton.example"
LANGUAGES = ("en", "es", "it")

SKILLS = {
    "streets": "Streets & sanitation", "waste": "Waste collection", "trees": "Urban forestry",
    "benefits": "Benefits", "housing": "Housing assistance", "tax": "Property tax",
    "licensing": "Licensing", "food_safety": "Food safety", "transport": "Taxi & transport",
    "events": "Events", "general": "General enquiries", "complaints": "Complaints",
}

QUEUES = [
    # code, name, strategy, required skills (code, essential), languages, priority
    ("streets", "Streets & Sanitation", RoutingStrategy.LEAST_LOADED, [("streets", True), ("waste", False)],
     ["en", "es", "it"], 2),
    ("benefits", "Benefits", RoutingStrategy.BEST_MATCH, [("benefits", True), ("housing", False)],
     ["en", "es", "it"], 3),
    ("licensing", "Licensing", RoutingStrategy.ROUND_ROBIN, [("licensing", True)], ["en", "es", "it"], 1),
    ("general", "General Enquiries", RoutingStrategy.LEAST_LOADED, [("general", True)], ["en", "es", "it"], 0),
]
OVERFLOW = {"streets": "general", "licensing": "general"}

# SLA targets in business minutes: (first response, resolution) by priority.
SLA_MINUTES = {Priority.LOW: (2880, 14400), Priority.NORMAL: (1440, 7200),
               Priority.HIGH: (240, 2400), Priority.URGENT: (60, 480)}


@dataclass(frozen=True)
class StaffMember:
    first: str
    last: str
    role: Role
    languages: tuple[str, ...]
    queues: tuple[str, ...]
    skills: tuple[tuple[str, int], ...]


STAFF = [
    StaffMember("Alex", "Morgan", Role.ADMIN, ("en",), (), ()),
    StaffMember("Dana", "Whitfield", Role.SUPERVISOR, ("en",), ("streets", "general"), (("streets", 3), ("general", 3))),
    StaffMember("Lucía", "Fernández", Role.SUPERVISOR, ("en", "es"), ("benefits",), (("benefits", 3), ("housing", 3))),
    StaffMember("Marco", "Bellini", Role.SUPERVISOR, ("en", "it"), ("licensing",), (("licensing", 3), ("events", 2))),
    StaffMember("María", "García", Role.CASEWORKER, ("en", "es"), ("benefits",),
                (("benefits", 3), ("housing", 2), ("tax", 1))),
    StaffMember("James", "Okafor", Role.CASEWORKER, ("en",), ("benefits",), (("benefits", 2), ("tax", 3))),
    StaffMember("Giulia", "Romano", Role.CASEWORKER, ("en", "it"), ("benefits", "general"),
                (("benefits", 2), ("housing", 3), ("general", 2))),
    StaffMember("Priya", "Natarajan", Role.CASEWORKER, ("en",), ("licensing",),
                (("licensing", 3), ("food_safety", 3))),
    StaffMember("Carlos", "Mendoza", Role.CASEWORKER, ("en", "es"), ("licensing",),
                (("licensing", 2), ("transport", 3), ("events", 2))),
    StaffMember("Hannah", "Kowalski", Role.CASEWORKER, ("en",), ("streets",), (("streets", 3), ("trees", 3))),
    StaffMember("Luca", "Ferraro", Role.CASEWORKER, ("en", "it", "es"), ("streets", "general"),
                (("streets", 2), ("waste", 2), ("general", 2))),
    StaffMember("Ana", "Souza", Role.CASEWORKER, ("en", "es"), ("general", "benefits"),
                (("general", 3), ("complaints", 3), ("benefits", 1))),
    StaffMember("Sam", "Taylor", Role.AGENT, ("en",), ("general", "streets"), (("general", 2), ("streets", 1))),
    StaffMember("Rosa", "Delgado", Role.AGENT, ("en", "es"), ("general", "streets"),
                (("general", 2), ("waste", 2), ("streets", 1))),
    StaffMember("Matteo", "Greco", Role.AGENT, ("en", "it"), ("general", "licensing"),
                (("general", 2), ("licensing", 1))),
    StaffMember("Kevin", "Nguyen", Role.AGENT, ("en",), ("streets",), (("streets", 2), ("waste", 3))),
    StaffMember("Elena", "Ruiz", Role.AGENT, ("en", "es"), ("benefits", "general"),
                (("benefits", 1), ("general", 2))),
    StaffMember("Tom", "Becker", Role.AGENT, ("en",), ("general",), (("general", 2), ("complaints", 2))),
    StaffMember("Chiara", "Conti", Role.AGENT, ("en", "it", "es"), ("general", "streets"),
                (("general", 2), ("streets", 1), ("trees", 1))),
    StaffMember("Diego", "Morales", Role.AGENT, ("en", "es"), ("streets", "licensing"),
                (("streets", 2), ("licensing", 1))),
]

# The accounts the demo prints: one per role.
DEMO_LOGINS = {Role.ADMIN: "Alex", Role.SUPERVISOR: "Dana", Role.CASEWORKER: "María", Role.AGENT: "Sam"}

CHANNEL_WEIGHTS = {Channel.EMAIL: 40, Channel.WEBFORM: 20, Channel.PHONE: 20, Channel.CHAT: 12, Channel.OPEN311: 8}
LANGUAGE_WEIGHTS = {"en": 70, "es": 22, "it": 8}


def staff_email(member: StaffMember) -> str:
    """first.last@riverton.example, with accents dropped."""
    plain = (f"{member.first}.{member.last}".lower()
             .translate(str.maketrans("áéíóúàèìòùñ", "aeiouaeioun")))
    return f"{plain}@{DEMO_DOMAIN}"


def logins_text() -> str:
    """The demo logins, one line per role, as `flask seed-demo` and `flask serve` print them."""
    by_first = {m.first: m for m in STAFF}
    lines = [f"Demo logins (password for all: {DEMO_PASSWORD}):"]
    for role, first in DEMO_LOGINS.items():
        lines.append(f"  {role.value:<11} {staff_email(by_first[first])}")
    return "\n".join(lines)


def is_seeded(session: Session) -> bool:
    """True once the database has any staff account: seeding is for an empty database only."""
    return session.execute(select(func.count(User.id))).scalar_one() > 0


def has_demo_staff(session: Session) -> bool:
    admin = next(m for m in STAFF if m.role is Role.ADMIN)
    return session.execute(select(User.id).where(User.email == staff_email(admin))).first() is not None


def default_now() -> datetime:
    """Noon UTC today: the same seed gives the same data all day."""
    return datetime.combine(date.today(), time(12), tzinfo=timezone.utc)


def seed(session: Session, *, constituents: int, cases: int, seed: int, now: datetime | None = None) -> dict:
    """Insert the demo organisation, staff, constituents and case history. Flushes; the caller commits."""
    rng = random.Random(seed)
    now = now or default_now()
    org = _seed_organisation(session)
    staff = _seed_staff(session, org)
    people = _seed_constituents(session, rng, constituents, now)
    counts = _CaseWriter(session, rng, now, org, staff, people).write(cases)
    return {"queues": len(org.queues), "staff": len(staff), "constituents": len(people), **counts}


@dataclass
class _Org:
    queues: dict[str, Queue]
    categories: list[Category]
    category_priority: dict[str, Priority]


def _seed_organisation(session: Session) -> _Org:
    skills = {code: Skill(code=code, name=name) for code, name in SKILLS.items()}
    session.add_all(skills.values())
    calendar = BusinessCalendar(
        name="Riverton City Hall", timezone="America/New_York",
        hours={str(d): [["08:00", "18:00"]] for d in range(1, 6)} | {"6": [["09:00", "13:00"]]},
        holidays=["2026-01-01", "2026-01-19", "2026-02-16", "2026-05-25", "2026-06-19", "2026-07-03",
                  "2026-09-07", "2026-10-12", "2026-11-11", "2026-11-26", "2026-12-25", "2027-01-01"],
    )
    queues = {}
    for code, name, strategy, needs, languages, priority in QUEUES:
        queue = Queue(code=code, name=name, strategy=strategy, languages=languages, priority=priority,
                      calendar=calendar, overflow_after_seconds=1800 if code in OVERFLOW else None)
        queue.required_skills = [QueueSkill(skill=skills[s], is_essential=essential) for s, essential in needs]
        queues[code] = queue
    session.add_all(queues.values())
    session.flush()
    for code, target in OVERFLOW.items():
        queues[code].overflow_queue = queues[target]
    for queue in queues.values():
        session.add_all(SlaPolicy(queue_id=queue.id, priority=p, first_response_minutes=first,
                                  resolution_minutes=resolve) for p, (first, resolve) in SLA_MINUTES.items())
    categories, category_priority = [], {}
    for spec in content.CATEGORIES:
        categories.append(Category(code=spec["code"], name=spec["names"]["en"], names=spec["names"],
                                   description=spec["description"], queue=queues[spec["queue"]],
                                   retention_days=spec["retention_days"]))
        category_priority[spec["code"]] = Priority[spec["priority"].upper()]
    session.add_all(categories)
    session.flush()
    session.add(ServiceAttribute(   # an Open311 service definition (issue 6): /open311/v2/services/pothole.xml
        category_id=next(c.id for c in categories if c.code == "pothole"), code="SIZE", position=1,
        datatype=AttributeDatatype.SINGLEVALUELIST, description="How big is the pothole?",
        values=[{"key": "small", "name": "Smaller than a dinner plate"}, {"key": "large", "name": "Larger"}]))
    return _Org(queues, categories, category_priority)


def _seed_staff(session: Session, org: _Org) -> list[User]:
    password_hash = accounts.hash_password(DEMO_PASSWORD)
    skills = {s.code: s for s in session.execute(select(Skill)).scalars()}
    users = []
    for member in STAFF:
        user = User(email=staff_email(member), display_name=f"{member.first} {member.last}", role=member.role,
                    password_hash=password_hash, languages=list(member.languages),
                    presence=Presence.OFFLINE)
        user.skills = [UserSkill(skill=skills[code], level=level) for code, level in member.skills]
        user.capacities = [UserCapacity(channel=ch, slots=n) for ch, n in accounts.DEFAULT_CAPACITY.items()]
        users.append(user)
    session.add_all(users)
    session.flush()
    session.execute(insert(QueueMember), [
        {"queue_id": org.queues[code].id, "user_id": user.id}
        for member, user in zip(STAFF, users) for code in member.queues
    ])
    return users


@dataclass(frozen=True)
class _Person:
    id: int
    first: str
    language: str
    email_point: int | None
    phone_point: int | None
    district: str
    postcode: str


def _phone(rng: random.Random) -> str:
    # 555-01xx is reserved for fiction; other 555 numbers are not real either but parse as valid.
    number = phonenumbers.parse(f"+1585555{rng.randrange(0, 10000):04d}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _seed_constituents(session: Session, rng: random.Random, count: int, now: datetime) -> list[_Person]:
    rows, people_meta, used = [], [], set()
    for i in range(count):
        language = _weighted(rng, LANGUAGE_WEIGHTS)
        district, postcode = rng.choice(content.DISTRICTS)
        is_business = rng.random() < 0.06
        first, last = rng.choice(content.FIRST_NAMES[language]), rng.choice(content.LAST_NAMES[language])
        name = rng.choice(content.BUSINESS_NAMES) if is_business else f"{first} {last}"
        rows.append({"kind": ConstituentKind.BUSINESS if is_business else ConstituentKind.PERSON,
                     "display_name": name, "preferred_language": language, "postcode": postcode,
                     "district": district, "created_at": now - timedelta(days=rng.randint(30, 900))})
        email = _unique(used, lambda: f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 999)}@"
                        f"{rng.choice(['mail.example', 'post.example', 'inbox.example'])}") \
            if rng.random() < 0.85 else None
        phone = _unique(used, lambda: _phone(rng)) if (email is None or rng.random() < 0.6) else None
        people_meta.append((first, language, email, phone, district, postcode, name))
    ids = session.execute(insert(Constituent).returning(Constituent.id, sort_by_parameter_order=True), rows).scalars().all()
    points = []
    for cid, (first, _lang, email, phone, *_rest, name) in zip(ids, people_meta):
        if email:
            points.append({"constituent_id": cid, "kind": ContactKind.EMAIL, "value": email, "display": name,
                           "is_verified": True})
        if phone:
            points.append({"constituent_id": cid, "kind": ContactKind.PHONE, "value": phone, "display": name,
                           "is_verified": True})
    point_ids = session.execute(insert(ContactPoint).returning(ContactPoint.id, sort_by_parameter_order=True),
                                points).scalars().all()
    by_owner: dict[tuple[int, ContactKind], int] = {}
    for row, pid in zip(points, point_ids):
        by_owner[(row["constituent_id"], row["kind"])] = pid
    return [
        _Person(cid, first, lang, by_owner.get((cid, ContactKind.EMAIL)), by_owner.get((cid, ContactKind.PHONE)),
                district, postcode)
        for cid, (first, lang, _e, _p, district, postcode, _n) in zip(ids, people_meta)
    ]


def _ascii(text: str) -> str:
    return text.lower().translate(str.maketrans("áéíóúàèìòùñç' ", "aeiouaeiounc--"))


def _unique(used: set, make) -> str:
    value = make()
    while value in used:
        value = make()
    used.add(value)
    return value


def _weighted(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


CATEGORY_WEIGHTS = {
    "pothole": 12, "streetlight_out": 8, "missed_collection": 12, "bulk_pickup": 6, "graffiti": 5,
    "abandoned_vehicle": 4, "fallen_tree": 3, "housing_assistance": 7, "property_tax_relief": 4,
    "food_assistance": 6, "business_license": 4, "food_vendor_permit": 3, "taxi_license": 2, "event_permit": 3,
    "noise_complaint": 8, "general_enquiry": 13,
}
OPEN_ASSIGNED = (CaseStatus.ASSIGNED, CaseStatus.PENDING_CONSTITUENT)
# Texts are written before references are numbered (chronologically, at the end); this stands in until then.
REFERENCE_MARK = "\x00ref\x00"


def _status_for_age(rng: random.Random, age: timedelta, channel: Channel) -> CaseStatus:
    if channel in (Channel.PHONE, Channel.CHAT) and rng.random() < 0.7:
        return CaseStatus.CLOSED if age > timedelta(days=7) else CaseStatus.RESOLVED   # answered live
    if age < timedelta(days=2):
        weights = {CaseStatus.NEW: 35, CaseStatus.ASSIGNED: 40, CaseStatus.PENDING_CONSTITUENT: 15,
                   CaseStatus.RESOLVED: 10}
    elif age < timedelta(days=21):
        weights = {CaseStatus.NEW: 3, CaseStatus.ASSIGNED: 35, CaseStatus.PENDING_CONSTITUENT: 20,
                   CaseStatus.RESOLVED: 30, CaseStatus.CLOSED: 12}
    else:
        weights = {CaseStatus.ASSIGNED: 1, CaseStatus.PENDING_CONSTITUENT: 1, CaseStatus.RESOLVED: 6,
                   CaseStatus.CLOSED: 92}
    return _weighted(rng, weights)


def _with_reference(row: dict, reference: str) -> dict:
    row["body_text"] = row["body_text"].replace(REFERENCE_MARK, reference)
    for line in row["meta"].get("lines", ()):
        line["text"] = line["text"].replace(REFERENCE_MARK, reference)
    return row


class _CaseWriter:
    """Builds the case history as rows and inserts them in bulk."""

    def __init__(self, session: Session, rng: random.Random, now: datetime, org: _Org, staff: list[User],
                 people: list[_Person]):
        self.session, self.rng, self.now, self.org, self.people = session, rng, now, org, people
        self.queue_code_by_id = {q.id: code for code, q in org.queues.items()}
        self.eligible: dict[tuple[str, str], list[User]] = defaultdict(list)
        members = {(member.first, member.last): member for member in STAFF}
        for user in staff:
            member = members[tuple(user.display_name.split(" ", 1))]
            if member.role in (Role.AGENT, Role.CASEWORKER):
                for code in member.queues:
                    for language in member.languages:
                        self.eligible[(code, language)].append(user)
        self.load: dict[tuple[int, Channel], int] = defaultdict(int)
        self.message_seq = 0

    def write(self, count: int) -> dict:
        specs = sorted((self._case_spec() for _ in range(count)), key=lambda s: s["created_at"])
        numbers: dict[int, int] = defaultdict(int)
        for spec in specs:
            year = spec["created_at"].year
            numbers[year] += 1
            spec["reference"] = f"C-{year}-{numbers[year]:06d}"
        plans = [spec.pop("_plan") for spec in specs]
        ids = self.session.execute(insert(Case).returning(Case.id, sort_by_parameter_order=True), specs).scalars().all()
        interactions, decisions = [], []
        for case_id, spec, plan in zip(ids, specs, plans):
            for row in plan["interactions"]:
                interactions.append(_with_reference(row, spec["reference"]) | {"case_id": case_id})
            if plan["decision"]:
                decisions.append(plan["decision"] | {"case_id": case_id})
        for start in range(0, len(interactions), 5000):
            self.session.execute(insert(Interaction), interactions[start:start + 5000])
        if decisions:
            self.session.execute(insert(RoutingDecision), decisions)
        if past := [e for case_id, spec in zip(ids, specs) for e in self._past_sla_events(case_id, spec)]:
            self.session.execute(insert(SlaEvent), past)
        self.session.execute(insert(ReferenceCounter), [{"year": y, "value": n} for y, n in numbers.items()])
        if surveys := _survey_rows(random.Random(self.rng.getrandbits(64)), self.now, ids, specs,
                                   {p.id: p for p in self.people}):
            self.session.execute(insert(SurveyResponse), surveys)
        by_status = defaultdict(int)
        for spec in specs:
            by_status[spec["status"].value] += 1
        return {"cases": len(specs), "interactions": len(interactions), **{f"{k} cases": v for k, v in sorted(by_status.items())},
                "surveys sent": len(surveys), "surveys answered": sum(1 for r in surveys if r["score"] is not None)}

    def _past_sla_events(self, case_id: int, spec: dict) -> list[dict]:
        """The warnings and breaches an open case's running clocks would have fired before now, recorded as
        fired then: history, so that the first worker's SLA sweep does not escalate a year of backlog at once."""
        if spec["status"] not in OPEN_STATUSES:
            return []
        clocks = [(SlaKind.RESOLUTION, spec["resolution_warn_at"], spec["resolution_due_at"])]
        if spec.get("first_responded_at") is None:
            clocks.append((SlaKind.FIRST_RESPONSE, spec["first_response_warn_at"], spec["first_response_due_at"]))
        return [{"case_id": case_id, "kind": kind, "stage": stage, "due_at": due, "fired_at": at}
                for kind, warn, due in clocks
                for stage, at in ((SlaStage.WARNING, warn), (SlaStage.BREACH, due)) if at <= self.now]

    # -- one case ---------------------------------------------------------------------------------------

    def _case_spec(self) -> dict:
        rng = self.rng
        person = rng.choice(self.people)
        category = self.org.categories[[c.code for c in self.org.categories].index(_weighted(rng, CATEGORY_WEIGHTS))]
        channel = self._channel_for(person)
        age = timedelta(minutes=int(min(rng.expovariate(1 / (60 * 24 * 60)), 364 * 24 * 60)))
        created = self.now - age
        status = _status_for_age(rng, age, channel)
        priority = self.org.category_priority[category.code]
        if rng.random() < 0.08:
            priority = Priority(min(priority + 1, Priority.URGENT))
        queue_code = self.queue_code_by_id[category.queue_id]
        assignee = self._assignee(queue_code, person.language, channel, status) if status is not CaseStatus.NEW else None
        if assignee is None and status in OPEN_ASSIGNED:
            status = CaseStatus.NEW                         # nobody had room: it waits in the queue
        subject, body = self._words(category.code, person)
        first_due, resolve_due = (created + timedelta(minutes=m) for m in SLA_MINUTES[priority])
        first_warn, resolve_warn = (created + timedelta(minutes=m - sla.warning_lead(m)) for m in SLA_MINUTES[priority])
        spec = {
            "subject": subject, "channel": channel, "status": status, "priority": priority,
            "language": person.language, "category_id": category.id, "queue_id": category.queue_id,
            "constituent_id": person.id, "assignee_id": assignee.id if assignee else None,
            "postcode": person.postcode, "district": person.district,
            "address": f"{rng.randint(1, 2400)} {rng.choice(content.STREETS)}" if queue_code == "streets" else None,
            "created_at": created, "queued_at": created, "updated_at": created, "last_activity_at": created,
            "first_response_due_at": first_due, "resolution_due_at": resolve_due,
            "first_response_warn_at": first_warn, "resolution_warn_at": resolve_warn,
            "sla_basis": f"{category.queue_id}:{int(priority)}",      # measured: the sweep leaves them be
        }
        spec["_plan"] = self._history(spec, person, assignee, body)
        return spec

    def _channel_for(self, person: _Person) -> Channel:
        channel = _weighted(self.rng, CHANNEL_WEIGHTS)
        if channel is Channel.EMAIL and person.email_point is None:
            return Channel.PHONE
        if channel is Channel.PHONE and person.phone_point is None:
            return Channel.EMAIL
        return channel

    def _assignee(self, queue_code: str, language: str, channel: Channel, status: CaseStatus) -> User | None:
        candidates = self.eligible.get((queue_code, language)) or self.eligible.get((queue_code, "en"), [])
        if status not in OPEN_ASSIGNED:
            return self.rng.choice(candidates) if candidates else None
        slots = accounts.DEFAULT_CAPACITY[channel]
        free = [u for u in candidates if self.load[(u.id, channel)] < slots]
        if not free:
            return None
        pick = min(free, key=lambda u: (self.load[(u.id, channel)], self.rng.random()))
        self.load[(pick.id, channel)] += 1
        return pick

    def _words(self, category_code: str, person: _Person) -> tuple[str, str]:
        rng = self.rng
        subject, body = rng.choice(content.CATEGORY_TEXTS[category_code][person.language])
        fill = {"street": rng.choice(content.STREETS), "number": rng.randint(1, 2400),
                "date": (self.now - timedelta(days=rng.randint(1, 20))).strftime("%B %-d"),
                "name": person.first, "district": person.district}
        return subject.format(**fill), body.format(**fill)

    # -- what happened on it ----------------------------------------------------------------------------

    def _history(self, spec: dict, person: _Person, assignee: User | None, body: str) -> dict:
        rng, created, status = self.rng, spec["created_at"], spec["status"]
        rows = [self._first_contact(spec, person, assignee, body)]
        decision = None
        at = created
        if assignee is not None:
            at = self._later(at, 1, 90)
            rows.append(self._row(spec, InteractionKind.ASSIGNMENT, Direction.INTERNAL, at,
                                  f"Assigned to {assignee.display_name}.", author=None))
            decision = {"user_id": assignee.id, "queue_id": spec["queue_id"], "kind": DecisionKind.ASSIGNMENT,
                        "outcome": DecisionOutcome.ASSIGNED, "strategy": "least_loaded",
                        "rule": "demo history", "explanation": {"source": "seed-demo"}, "created_at": at}
        if status is CaseStatus.NEW or assignee is None:
            return {"interactions": rows, "decision": decision}
        agent = assignee.display_name.split(" ")[0]
        late = rng.random() < 0.12
        at = self._later(created, 10, (3000 if late else 900))
        spec["first_responded_at"] = at
        rows.append(self._reply(spec, person, assignee, agent, at))
        if rng.random() < 0.4:
            at = self._later(at, 5, 600)
            rows.append(self._row(spec, InteractionKind.NOTE, Direction.INTERNAL, at, rng.choice(content.NOTE_TEXTS),
                                  author=assignee.id))
        if rng.random() < 0.35:
            at = self._later(at, 30, 2880)
            text = rng.choice(content.FOLLOWUP_TEXTS[person.language]).format(name=person.first, reference=REFERENCE_MARK)
            rows.append(self._inbound(spec, person, at, text))
        if status in (CaseStatus.RESOLVED, CaseStatus.CLOSED):
            at = self._later(at, 60, 4320)
            spec["resolved_at"] = at
            rows.append(self._row(spec, InteractionKind.STATUS_CHANGE, Direction.INTERNAL, at,
                                  f"Resolved: {rng.choice(content.RESOLUTION_SUMMARIES)}", author=assignee.id,
                                  meta={"from": "assigned", "to": "resolved"}))
            if status is CaseStatus.CLOSED:
                spec["closed_at"] = min(at + timedelta(days=7), self.now)
        spec["last_activity_at"] = spec["updated_at"] = at
        return {"interactions": rows, "decision": decision}

    def _later(self, after: datetime, low_minutes: int, high_minutes: int) -> datetime:
        return min(after + timedelta(minutes=self.rng.randint(low_minutes, high_minutes)), self.now)

    def _row(self, spec: dict, kind: InteractionKind, direction: Direction, at: datetime, text: str, *,
             author: int | None, channel: Channel | None = None, **extra) -> dict:
        return {"constituent_id": spec["constituent_id"], "kind": kind, "channel": channel or spec["channel"],
                "direction": direction, "author_id": author, "subject": "", "body_text": text,
                "occurred_at": at, "created_at": at, "meta": {}} | extra

    def _message_id(self) -> str:
        self.message_seq += 1
        return f"demo.{self.message_seq}.{self.rng.getrandbits(40):010x}@mail.example"     # stored without <>

    def _first_contact(self, spec: dict, person: _Person, assignee: User | None, body: str) -> dict:
        channel, at = spec["channel"], spec["created_at"]
        if channel is Channel.PHONE:
            note = self.rng.choice(content.CALL_NOTES).format(street=self.rng.choice(content.STREETS))
            return self._row(spec, InteractionKind.CALL, Direction.INBOUND, at, note,
                             author=assignee.id if assignee else None, contact_point_id=person.phone_point,
                             external_id=f"CA{self.rng.getrandbits(64):016x}",
                             meta={"duration_seconds": self.rng.randint(45, 1200)})
        if channel is Channel.CHAT:
            transcript = self.rng.choice(content.CHAT_TRANSCRIPTS[person.language])
            agent = assignee.display_name.split(" ")[0] if assignee else "Agent"
            lines = [{"speaker": who, "text": text.format(reference=REFERENCE_MARK, agent=agent)} for who, text in transcript]
            return self._row(spec, InteractionKind.CHAT_TRANSCRIPT, Direction.INBOUND, at,
                             "\n".join(f"{line['speaker'].title()}: {line['text']}" for line in lines),
                             author=None, external_id=f"chat-{self.rng.getrandbits(48):012x}",
                             meta={"lines": lines}, contact_point_id=person.email_point)
        external = self._message_id() if channel is Channel.EMAIL else f"{channel.value}-{self.rng.getrandbits(48):012x}"
        return self._row(spec, InteractionKind.MESSAGE, Direction.INBOUND, at, body, author=None,
                         subject=spec["subject"], external_id=external,
                         contact_point_id=person.email_point or person.phone_point)

    def _inbound(self, spec: dict, person: _Person, at: datetime, text: str) -> dict:
        channel = Channel.EMAIL if person.email_point else Channel.PHONE
        kind = InteractionKind.MESSAGE if channel is Channel.EMAIL else InteractionKind.CALL
        return self._row(spec, kind, Direction.INBOUND, at, text, author=None, channel=channel,
                         subject=f"Re: {spec['subject']}", contact_point_id=person.email_point or person.phone_point,
                         external_id=self._message_id() if channel is Channel.EMAIL else None)

    def _reply(self, spec: dict, person: _Person, assignee: User, agent: str, at: datetime) -> dict:
        text = self.rng.choice(content.REPLY_TEXTS[person.language]).format(
            name=person.first, reference=REFERENCE_MARK, agent=agent)
        if person.email_point is not None:
            return self._row(spec, InteractionKind.MESSAGE, Direction.OUTBOUND, at, text, author=assignee.id,
                             channel=Channel.EMAIL, subject=f"Re: {spec['subject']}",
                             contact_point_id=person.email_point, external_id=self._message_id(),
                             delivery_status=DeliveryStatus.SENT)
        return self._row(spec, InteractionKind.CALL, Direction.OUTBOUND, at, f"Called back. {text}",
                         author=assignee.id, channel=Channel.PHONE, contact_point_id=person.phone_point)


# ---- satisfaction surveys (issue 7) ---------------------------------------------------------------------

SURVEY_SCORE_WEIGHTS = {5: 46, 4: 24, 3: 12, 2: 8, 1: 10}      # the usual J-shape of public-service CSAT


def _survey_rows(rng: random.Random, now: datetime, ids: list[int], specs: list[dict],
                 people: dict[int, "_Person"]) -> list[dict]:
    """The surveys the resolved and closed cases were sent (by chat for chats, else to an email address; a
    case with neither was not asked), about 40% answered, some with a comment in the person's language.
    Each agent leans a little better or worse, so the per-agent reports have something to tell."""
    lean: dict[int, int] = {}
    rows = []
    for case_id, spec in zip(ids, specs):
        agent_id, person = spec["assignee_id"], people[spec["constituent_id"]]
        if spec.get("resolved_at") is None or agent_id is None:
            continue
        if spec["channel"] is not Channel.CHAT and person.email_point is None:
            continue
        sent_at = min(spec["resolved_at"] + timedelta(minutes=rng.randint(1, 10)), now)
        row = {"case_id": case_id, "agent_id": agent_id, "queue_id": spec["queue_id"], "language": spec["language"],
               "channel": Channel.CHAT if spec["channel"] is Channel.CHAT else Channel.EMAIL, "sent_at": sent_at,
               "score": None, "comment": None, "answered_at": None}
        if rng.random() < 0.4:
            score = _weighted(rng, SURVEY_SCORE_WEIGHTS)
            if rng.random() < 0.3:
                score = max(1, min(5, score + lean.setdefault(agent_id, rng.choice((-1, 0, 0, 1)))))
            row["score"] = score
            row["answered_at"] = min(sent_at + timedelta(minutes=rng.randint(3, 4320)), now)
            if rng.random() < 0.35:
                mood = "good" if score >= 4 else "mixed" if score == 3 else "bad"
                row["comment"] = rng.choice(content.CSAT_COMMENTS[spec["language"]][mood])
        rows.append(row)
    return rows
