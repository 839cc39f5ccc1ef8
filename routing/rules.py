"""Pure routing rules over small dataclasses: eligibility and scoring, no database."""
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    user_id: int
    capacity: int
    load: int

    @property
    def spare(self) -> int:
        return self.capacity - self.load


def least_loaded(candidates: Iterable[Candidate]) -> Candidate | None:
    """The candidate with the most spare capacity (lowest id on a tie), or None when nobody has any."""
    eligible = [c for c in candidates if c.spare > 0]
    if not eligible:
        return None
    return min(eligible, key=lambda c: (-c.spare, c.user_id))
