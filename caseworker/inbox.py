"""The signed-in user's inbox: their open cases, most urgent and most recently active first."""
from flask import Blueprint, current_app, render_template, request
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from caseworker.auth import require_role
from models import OPEN_STATUSES, Case, Role, Session

bp = Blueprint("inbox", __name__, url_prefix="/inbox")
bp.before_request(require_role(Role.AGENT))


def _my_open_cases():
    return select(Case).where(Case.assignee_id == current_user.id, Case.status.in_(OPEN_STATUSES))


@bp.get("/")
def index():
    page_size = current_app.config["INBOX_PAGE_SIZE"]
    offset = max(request.args.get("offset", 0, type=int), 0)
    query = (
        _my_open_cases()
        .options(joinedload(Case.constituent), joinedload(Case.queue))
        .order_by(Case.priority.desc(), Case.last_activity_at.desc(), Case.id.desc())
        .offset(offset)
        .limit(page_size)
    )
    cases = Session.execute(query).scalars().all()
    total = Session.execute(select(func.count()).select_from(_my_open_cases().subquery())).scalar_one()
    return render_template("inbox/index.html", cases=cases, total=total, offset=offset, page_size=page_size)
