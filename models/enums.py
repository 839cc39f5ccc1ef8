"""Statuses and kinds shared by the models. StrEnums are stored as their values (VARCHAR + CHECK)."""
import enum


class Role(enum.StrEnum):
    AGENT = "agent"
    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Presence(enum.StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    OFFLINE = "offline"


class Channel(enum.StrEnum):
    EMAIL = "email"
    WEBFORM = "webform"
    CHAT = "chat"
    PHONE = "phone"
    OPEN311 = "open311"


class CaseStatus(enum.StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    PENDING_CONSTITUENT = "pending_constituent"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.ASSIGNED, CaseStatus.PENDING_CONSTITUENT)


class Priority(enum.IntEnum):
    """Higher is more urgent, so `ORDER BY priority DESC` puts urgent first."""

    LOW = 1
    NORMAL = 2
    HIGH = 3
    URGENT = 4


class ContactKind(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    API = "api"


class ConstituentKind(enum.StrEnum):
    PERSON = "person"
    BUSINESS = "business"


class InteractionKind(enum.StrEnum):
    MESSAGE = "message"            # an email, form submission, Open311 request or chat message
    CHAT_TRANSCRIPT = "chat_transcript"
    CALL = "call"
    NOTE = "note"                  # internal note, never shown to the constituent
    STATUS_CHANGE = "status_change"
    ASSIGNMENT = "assignment"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class DeliveryStatus(enum.StrEnum):
    """Where an outbound message is; inbound and internal interactions have none."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class InboundStatus(enum.StrEnum):
    RECEIVED = "received"
    INGESTED = "ingested"
    IGNORED = "ignored"      # e.g. an auto-reply: stored and visible, opens no case
    FAILED = "failed"


class RoutingStrategy(enum.StrEnum):
    LEAST_LOADED = "least_loaded"
    ROUND_ROBIN = "round_robin"
    BEST_MATCH = "best_match"


class DecisionKind(enum.StrEnum):
    ASSIGNMENT = "assignment"
    OFFER = "offer"
    MANUAL = "manual"
    RELEASE = "release"
    OVERFLOW = "overflow"


class DecisionOutcome(enum.StrEnum):
    ASSIGNED = "assigned"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    NO_CANDIDATE = "no_candidate"
    RETURNED = "returned"
    CANCELLED = "cancelled"


class AuditAction(enum.StrEnum):
    VIEW = "view"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXPORT = "export"
    MERGE = "merge"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
