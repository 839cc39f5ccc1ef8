"""Routing signals: sent after the routing transaction commits, with ids only."""
from blinker import Namespace

_signals = Namespace()

case_assigned = _signals.signal("case_assigned")   # sender: case_id; caseworker_id=, queue_id=
case_released = _signals.signal("case_released")   # sender: case_id; caseworker_id=, queue_id=
