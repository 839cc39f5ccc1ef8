"""Routing settings, set once per process by the composition root (`create_app`) from its config."""
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Settings:
    offer_timeout_seconds: float = 30.0
    # After an agent goes offline, their assigned cases with no first response return to the queue after
    # this long; None leaves them with the agent.
    return_unanswered_after_seconds: float | None = None


current = Settings()


def configure(**values) -> Settings:
    """Replace the named settings (unknown names raise TypeError) and return the new settings."""
    global current
    current = replace(current, **values)
    return current
