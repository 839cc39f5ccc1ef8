"""When to schedule an RQ timer so that it never fires before its moment."""
from datetime import datetime, timedelta


def not_before(at: datetime) -> datetime:
    """`at` rounded up to the whole second. RQ keeps a scheduled job's time in whole seconds, cut down, so a
    job set for 12:00:21.5 runs from 12:00:21.0 on; a timer that then finds itself early (an offer not yet
    expired, an SLA clock not yet due) would do nothing and never run again."""
    whole = at.replace(microsecond=0)
    return whole if whole == at else whole + timedelta(seconds=1)
