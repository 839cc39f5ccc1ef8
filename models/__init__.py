"""The data model. Code imports from here: `from models import Case`."""
from models.audit import AuditEvent
from models.base import Base, utcnow
from models.case import Attachment, Case, InboundRaw, Interaction, ReferenceCounter
from models.casework import CaseLink, CaseMerge, Macro, MacroVariant, Mention
from models.chat import ChatSession, ChatState
from models.caseworker import ROLE_ORDER, QueueMember, User, UserCapacity, UserSkill
from models.contact import Constituent, ContactPoint
from models.db import Session, begin_writing, get_engine, init_engine, make_engine, reading, transaction
from models.enums import (
    OPEN_STATUSES,
    AuditAction,
    CaseStatus,
    Channel,
    ConstituentKind,
    ContactKind,
    DecisionKind,
    DecisionOutcome,
    DeliveryStatus,
    Direction,
    InboundStatus,
    InteractionKind,
    Presence,
    Priority,
    Role,
    RoutingStrategy,
)
from models.identity import ConstituentMerge
from models.open311 import ApiKey, AttributeDatatype, ServiceAttribute
from models.organisation import BusinessCalendar, Category, Queue, QueueSkill, Skill, SlaPolicy
from models.reference import next_reference
from models.routing import RoutingDecision, StaffingVersion
from models.csat import SurveyResponse
from models.reports import REPORT_COLUMNS  # the report indexes join the metadata with it
from models.retention import RetentionMode, RetentionRun
from models.sla import SlaEvent, SlaKind, SlaStage, SlaState
from models.staff_security import StaffRecoveryCode, StaffTotp
from models.views import SavedView

__all__ = [
    "SavedView",
    "CaseLink", "CaseMerge", "Macro", "MacroVariant", "Mention",
    "ChatSession", "ChatState",
    "SlaEvent", "SlaKind", "SlaStage", "SlaState",
    "SurveyResponse",
    "REPORT_COLUMNS",
    "RetentionMode", "RetentionRun",
    "StaffRecoveryCode", "StaffTotp",
    "ApiKey", "AttributeDatatype", "ServiceAttribute",
    "OPEN_STATUSES", "ROLE_ORDER", "Attachment", "AuditAction", "AuditEvent", "Base", "BusinessCalendar",
    "Case", "CaseStatus", "Category", "Channel", "Constituent", "ConstituentKind", "ContactKind",
    "ContactPoint", "ConstituentMerge", "DecisionKind", "DecisionOutcome", "DeliveryStatus", "Direction", "InboundRaw",
    "InboundStatus", "Interaction", "InteractionKind", "Presence", "Priority", "Queue", "QueueMember",
    "QueueSkill", "ReferenceCounter", "Role", "RoutingDecision", "RoutingStrategy", "Session", "Skill", "StaffingVersion",
    "SlaPolicy", "User", "UserCapacity", "UserSkill", "begin_writing", "get_engine", "init_engine", "make_engine",
    "reading",
    "next_reference", "transaction", "utcnow",
]
