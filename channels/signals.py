"""Channel signals, sent after the intake transaction commits, with ids only."""
from blinker import Namespace

_signals = Namespace()

case_opened = _signals.signal("case_opened")          # sender: case_id; queue_id=
interaction_added = _signals.signal("interaction_added")   # sender: case_id; interaction_id=
case_changed = _signals.signal("case_changed")        # sender: case_id; by a person on the case page
mentioned = _signals.signal("mentioned")              # sender: case_id; interaction_id=, user_id=
call_arrived = _signals.signal("call_arrived")   # sender: case_id; call_id=, constituent_id=, caseworker_id= | queue_id=
