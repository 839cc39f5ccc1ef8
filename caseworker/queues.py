"""Queue views: the cases of every queue the user works in, or of one queue, with the inbox's filters."""
from flask import Blueprint, abort
from flask_login import current_user

from caseworker.auth import require_role
from caseworker.inbox import ListView, render_list, visible_queues
from models import Queue, Role

bp = Blueprint("queues", __name__, url_prefix="/queues")
bp.before_request(require_role(Role.AGENT))

ALL_QUEUES = ListView(scope="queues", endpoint="queues.index", rows_endpoint="queues.rows", url_args={},
                      default_text="{count} open {cases} in your queues.", empty_text="No case waits in your queues.",
                      live_events="queue.changed case.assigned")


def _queue_view(queue: Queue) -> ListView:
    return ListView(scope="queues", endpoint="queues.detail", rows_endpoint="queues.detail_rows",
                    url_args={"queue_id": queue.id}, default_text="{count} open {cases} in this queue.",
                    empty_text="No case waits in this queue.", live_events="queue.changed case.assigned",
                    queue_id=queue.id, implied=("queue",))


def _queue_or_404(queue_id: int) -> Queue:
    """One of the queues the user may open; 404 for any other (the same answer as for no such queue)."""
    queue = next((q for q in visible_queues(current_user) if q.id == queue_id), None)
    if queue is None:
        abort(404)
    return queue


def _all(partial: bool):
    return render_list(ALL_QUEUES, "queues/index.html", partial=partial, fixed={}, sort_default="waiting",
                       with_assignee=True, queue=None)


def _one(queue_id: int, partial: bool):
    queue = _queue_or_404(queue_id)
    return render_list(_queue_view(queue), "queues/index.html", partial=partial, fixed={"queue_id": queue.id},
                       sort_default="waiting", with_assignee=True, queue=queue)


@bp.get("/")
def index():
    return _all(partial=False)


@bp.get("/rows")
def rows():
    """The list alone (count, rows, pager), for the page to re-fetch when something changed."""
    return _all(partial=True)


@bp.get("/<int:queue_id>")
def detail(queue_id: int):
    return _one(queue_id, partial=False)


@bp.get("/<int:queue_id>/rows")
def detail_rows(queue_id: int):
    """One queue's list alone, for the page to re-fetch."""
    return _one(queue_id, partial=True)
