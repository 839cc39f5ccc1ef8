"""Routing signals: sent after the routing transaction commits, with ids only."""
from blinker import Namespace

_signals = Namespace()

case_assigned = _signals.signal("case_assigned")   # sender: case_id; caseworker_id=, queue_id=
case_released = _signals.signal("case_released")   # sender: case_id; caseworker_id=, queue_id=
case_offered = _signals.signal("case_offered")     # sender: case_id; offer_id=, caseworker_id=, expires_at= (ISO)
offer_closed = _signals.signal("offer_closed")     # sender: case_id; offer_id=, caseworker_id=
presence_changed = _signals.signal("presence_changed")   # sender: user_id; presence=
sla_warning = _signals.signal("sla_warning")       # sender: case_id; kind=, assignee_id=, due_at= (ISO)
sla_breached = _signals.signal("sla_breached")     # sender: case_id; kind=, assignee_id=, due_at= (ISO), priority=
case_resolved = _signals.signal("case_resolved")   # sender: case_id  (a person marked it resolved)
