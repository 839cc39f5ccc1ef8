"""The Open311 GeoReport v2 channel: API keys for the apps that post requests, and service attributes.

A service is a public Category; its attributes (the spec's service definition) live in `service_attributes`.
"""
import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.caseworker import User
from models.organisation import Category


class AttributeDatatype(enum.StrEnum):
    """The datatypes of GeoReport v2 service attributes."""

    STRING = "string"
    NUMBER = "number"
    DATETIME = "datetime"
    TEXT = "text"
    SINGLEVALUELIST = "singlevaluelist"
    MULTIVALUELIST = "multivaluelist"


class ApiKey(Base):
    """A key an app posts Open311 requests with. Only a SHA-256 of the key is stored; the key is shown once."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    key_prefix: Mapped[str] = mapped_column(String(16))           # shown to admins to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    created_by: Mapped["User | None"] = relationship()

    def __repr__(self) -> str:
        return f"<ApiKey {self.id} {self.key_prefix}>"


class ServiceAttribute(Base):
    """One question of a service's definition; `values` holds [{"key", "name"}] for the list datatypes."""

    __tablename__ = "service_attributes"
    __table_args__ = (UniqueConstraint("category_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    datatype: Mapped[AttributeDatatype] = mapped_column(default=AttributeDatatype.STRING)
    description: Mapped[str] = mapped_column(Text, default="")
    datatype_description: Mapped[str] = mapped_column(String(500), default="")
    is_variable: Mapped[bool] = mapped_column(default=True)       # false: a notice to show, not a question
    is_required: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=1)              # the spec's `order`
    values: Mapped[list[Any]] = mapped_column(default=list)

    category: Mapped[Category] = relationship()

    def __repr__(self) -> str:
        return f"<ServiceAttribute {self.code}>"
