"""Which requests write from their start. On SQLite a transaction that has read cannot write once another
process (a worker) has committed meanwhile: the write fails at once, whatever the busy timeout. So a request
that changes state takes the write lock before its first read (see models.db._begin) and waits its turn."""
from flask import current_app, request

from models import begin_writing

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def writes_after_checks(view):
    """Mark a view that checks its input (a signature, a form, uploads) before it begins writing itself with
    `begin_writing`, so that a refused request never holds the write lock. Put it right under the route."""
    view.writes_after_checks = True
    return view


def begin_unsafe_requests_as_writers() -> None:
    """A before_request hook: a POST (PUT, PATCH, DELETE) is a writer from here on, unless its view is marked
    `writes_after_checks`. GET views that write (audit records of views) use `caseworker.audit.view`."""
    if request.method in _SAFE_METHODS:
        return
    if getattr(current_app.view_functions.get(request.endpoint), "writes_after_checks", False):
        return
    begin_writing()
