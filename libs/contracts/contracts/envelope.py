"""The event envelope (field names after CloudEvents)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


class EventPayload(BaseModel):
    """Base of every event payload. Subclasses set EVENT_TYPE = "<entity>.<past_verb>.v<major>"."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    EVENT_TYPE: ClassVar[str]


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    source: str
    time: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    data: dict[str, Any]
    correlation_id: str | None = None
    causation_id: str | None = None
    specversion: str = "1.0"

    def payload(self, model: type[EventPayload]) -> EventPayload:
        """The data validated as `model` (whose EVENT_TYPE must match this envelope's type)."""
        if model.EVENT_TYPE != self.type:
            raise ValueError(f"envelope of type {self.type} read as {model.EVENT_TYPE}")
        return model.model_validate(self.data)
