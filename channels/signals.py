"""Channel signals, sent after the intake transaction commits, with ids only."""
from blinker import Namespace

_signals = Namespace()

case_opened = _signals.signal("case_opened")          # sender: case_id; queue_id=
interaction_added = _signals.signal("interaction_added")   # sender: case_id; interaction_id=
