"""Routing settings, set once per process by the composition root (`create_app`) from its config."""
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Settings:
    offer_timeout_seconds: float = 30.0
    # After an agent goes offline, their assigned cases with no first response return to the queue after
    # this long; None leaves them with the agent.
    return_unanswered_after_seconds: float | None = None
    # How old a process's copy of a queue's agents' presence and loads may be when routing picks from it
    # (PostgreSQL; `routing.roster.Loads`); 0 reads them in every transaction.
    loads_max_age_seconds: float = 5.0


current = Settings()


def configure(**values) -> Settings:
    """Replace the named settings (unknown names raise TypeError) and return the new settings."""
    global current
    current = replace(current, **values)
    return current
