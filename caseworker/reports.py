"""Supervisor reports: volume, response and resolution times, SLA attainment, agents, satisfaction and the
equity view, for a date range and optionally one queue or channel, each table with a chart and a CSV download.

The figures come from `routing.reports` (aggregates in the database). A page is a list of tables; a table
knows its columns (with their kind: count, duration, percent...) and, when a picture helps, its chart. The
HTML page shows every table with its chart (Chart.js, static/js/reports.js, fed from a JSON block, with the
table as the chart's text alternative); `/reports/<page>/<table>.csv` sends one table as CSV, with durations
in minutes, and records the export as an AuditEvent (AuditAction.EXPORT).

Reports are aggregates (no case or constituent appears), so viewing a page is not audited; exporting is.
"""
import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from caseworker import audit
from caseworker.auth import require_role
from caseworker.console import CHANNEL_LABELS
from caseworker.i18n import LANGUAGES
from models import AuditAction, Channel, Queue, Role, Session, utcnow
from routing import reports as figures
from routing.reports import Dimension, Filters
from routing.wallboard import duration

log = logging.getLogger(__name__)

bp = Blueprint("reports", __name__, url_prefix="/reports")
bp.before_request(require_role(Role.SUPERVISOR))          # supervisors and admins

DEFAULT_DAYS = 30
SMALL_GROUP = 20            # fewer cases than this: the equity view says the figure is a small sample


def _today() -> date:
    return utcnow().date()


class RangeForm(FlaskForm):
    """The report's date range and filters, read from the query string (a GET form that changes nothing,
    hence no CSRF token)."""

    class Meta:
        csrf = False

    start = DateField("From", validators=[Optional()], default=lambda: _today() - timedelta(days=DEFAULT_DAYS - 1))
    end = DateField("To", validators=[Optional()], default=_today)
    queue = SelectField("Queue", default="")
    channel = SelectField("Channel", default="",
                          choices=[SelectChoice("", "All channels")]
                          + [SelectChoice(c.value, CHANNEL_LABELS[c.value]) for c in Channel])

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if self.start.data is None or self.end.data is None:
            (self.start if self.start.data is None else self.end).errors.append("Enter a date, like 2026-03-31.")
            return False
        if self.end.data < self.start.data:
            self.end.errors.append("The end date is before the start date.")
            return False
        if (self.end.data - self.start.data).days + 1 > figures.MAX_DAYS:
            self.end.errors.append(f"A report covers at most {figures.MAX_DAYS} days; choose a shorter range.")
            return False
        return True

    def filters(self) -> Filters:
        return Filters(self.start.data, self.end.data, queue_id=int(self.queue.data) if self.queue.data else None,
                       channel=Channel(self.channel.data) if self.channel.data else None)

    def as_args(self) -> dict[str, str]:
        """The query string that reproduces this range (for CSV links and page tabs)."""
        args = {"start": self.start.data.isoformat(), "end": self.end.data.isoformat()}
        if self.queue.data:
            args["queue"] = self.queue.data
        if self.channel.data:
            args["channel"] = self.channel.data
        return args


def _range_form() -> RangeForm:
    form = RangeForm(formdata=request.args)
    queues = Session.execute(select(Queue.id, Queue.name).order_by(Queue.name, Queue.id))
    form.queue.choices = [SelectChoice("", "All queues")] + [SelectChoice(str(queue_id), name)
                                                              for queue_id, name in queues]
    return form


# ---- tables ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = "count"          # text | count | duration | percent | score | ratio


@dataclass
class Table:
    name: str
    caption: str
    columns: list[Column]
    rows: list[list]
    chart: dict | None = None
    note: str = ""

    def csv_cell(self, value, column: Column) -> object:
        if value is None:
            return ""
        if column.kind == "duration":
            return round(value / 60, 1)
        if column.kind in ("percent", "score", "ratio"):
            return round(value, 2)
        if column.kind == "text" and isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value        # a spreadsheet must not read a district name as a formula
        return value

    def csv_header(self) -> list[str]:
        units = {"duration": " (minutes)", "percent": " (%)"}
        return [column.label + units.get(column.kind, "") for column in self.columns]


def format_cell(value, kind: str) -> str:
    """How a table cell reads on the page."""
    if value is None:
        return "–"
    if kind == "duration":
        return duration(round(value))
    if kind == "percent":
        return f"{value:.1f} %"
    if kind == "score":
        return f"{value:.2f}"
    if kind == "ratio":
        return f"{value:.2f}×"
    if kind == "count":
        return f"{value:,}"
    return str(value)


def _chart(kind: str, labels: list[str], series: dict[str, list], unit: str, summary: str, **options) -> dict:
    """A chart for static/js/reports.js: `series` maps a legend label to one value per label."""
    return {"type": kind, "labels": labels, "unit": unit, "summary": summary, **options,
            "series": [{"label": name, "data": data} for name, data in series.items()]}


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _label(by: Dimension, line) -> str:
    if by is Dimension.CHANNEL:
        return CHANNEL_LABELS.get(line.label, line.label)
    if by is Dimension.LANGUAGE and line.label in LANGUAGES:
        return f"{LANGUAGES[line.label]} ({line.label})"
    return line.label


def _most(labels: list[str], lines: list) -> str:
    """" The highest is <label> with <n>." for the line with the most cases; "" for none."""
    if not lines:
        return ""
    label, line = max(zip(labels, lines), key=lambda pair: pair[1].cases)
    return f" The highest is {label} with {line.cases:,}."


# ---- the pages' tables -------------------------------------------------------------------------------------

WORDS = {Dimension.CHANNEL: "channel", Dimension.QUEUE: "queue", Dimension.CATEGORY: "category",
         Dimension.LANGUAGE: "language", Dimension.DISTRICT: "district (area)", Dimension.ALL: "all cases"}


def _table_name(by: Dimension) -> str:
    return "overall" if by is Dimension.ALL else f"by-{by.value}"


def _named(name: str) -> Callable:
    """Give a table builder the name its table (and its CSV URL) goes by."""
    def mark(build: Callable[..., Table]) -> Callable[..., Table]:
        build.table_name = name
        return build
    return mark


def _tables(*builders: Callable[..., Table]) -> dict[str, Callable[..., Table]]:
    return {build.table_name: build for build in builders}


@_named("by-day")
def volume_by_day(session, f: Filters) -> Table:
    lines = figures.volume(session, f, Dimension.DAY)
    total = sum(line.cases for line in lines)
    return Table("by-day", "Cases created per day", [Column("Day", "text"), Column("Cases")],
                 [[line.label, line.cases] for line in lines],
                 _chart("line", [line.label for line in lines], {"Cases": [line.cases for line in lines]}, "cases",
                        f"Line chart of cases per day: {total:,} cases over {len(lines)} days."
                        f"{_most([line.label for line in lines], lines)}"))


def _volume_table(by: Dimension) -> Callable[..., Table]:
    name = _table_name(by)

    @_named(name)
    def build(session, f: Filters) -> Table:
        lines = figures.volume(session, f, by)
        total = sum(line.cases for line in lines) or 1
        labels = [_label(by, line) for line in lines]
        return Table(name, f"Cases by {WORDS[by]}", [Column(WORDS[by].capitalize(), "text"), Column("Cases"),
                                                      Column("Share", "percent")],
                     [[label, line.cases, 100.0 * line.cases / total] for label, line in zip(labels, lines)],
                     _chart("bar", labels, {"Cases": [line.cases for line in lines]}, "cases",
                            f"Bar chart of cases by {WORDS[by]}.{_most(labels, lines)}"))
    return build


@_named("by-hour")
def volume_by_hour(session, f: Filters) -> Table:
    lines = figures.volume(session, f, Dimension.HOUR)
    return Table("by-hour", "Cases by hour of the day they arrived (UTC)", [Column("Hour (UTC)", "text"),
                                                                            Column("Cases")],
                 [[line.label, line.cases] for line in lines],
                 _chart("bar", [line.label for line in lines], {"Cases": [line.cases for line in lines]}, "cases",
                        f"Bar chart of cases by hour of arrival.{_most([line.label for line in lines], lines)}"))


TIMES_COLUMNS = [Column("Cases"), Column("Answered"), Column("First response, median", "duration"),
                 Column("First response, 90th percentile", "duration"), Column("Resolved"),
                 Column("Resolution, median", "duration"), Column("Resolution, 90th percentile", "duration")]


def _times_row(label: str, line: figures.TimesLine) -> list:
    return [label, line.cases, line.responded, line.first_response_median, line.first_response_p90, line.resolved,
            line.resolution_median, line.resolution_p90]


def _times_chart(by: Dimension, labels: list[str], lines: list[figures.TimesLine]) -> dict:
    slowest = max((line for line in lines if line.first_response_median is not None),
                  key=lambda line: line.first_response_median, default=None)
    worst = "" if slowest is None else (f" The slowest first response is for {slowest.label}: a median of "
                                        f"{duration(round(slowest.first_response_median))}.")
    return _chart("bar", labels, {
        "First response, median (hours)": [_hours(line.first_response_median) for line in lines],
        "Resolution, median (hours)": [_hours(line.resolution_median) for line in lines]}, "hours",
        f"Bar chart of median first-response and resolution times by {WORDS[by]}, in hours.{worst}")


def _overall_times(session, f: Filters):
    """The all-cases times line for `f`, read once per request: every compared table of a page needs it."""
    found = g.setdefault("report_overall_times", {})
    if f not in found:
        found[f] = next(iter(figures.times(session, f, Dimension.ALL)), None)
    return found[f]


def _times_table(by: Dimension, *, compare: bool = False) -> Callable[..., Table]:
    name = _table_name(by)

    @_named(name)
    def build(session, f: Filters) -> Table:
        lines = figures.times(session, f, by)
        labels = [_label(by, line) for line in lines]
        columns = [Column(WORDS[by].capitalize(), "text"), *TIMES_COLUMNS]
        rows = [_times_row(label, line) for label, line in zip(labels, lines)]
        note = ""
        if compare:
            overall = _overall_times(session, f)
            columns += [Column("First response against all cases", "ratio"),
                        Column("Resolution against all cases", "ratio"), Column("Sample", "text")]
            for row, line in zip(rows, lines):
                row += [_ratio(line.first_response_median, overall and overall.first_response_median),
                        _ratio(line.resolution_median, overall and overall.resolution_median),
                        "small sample" if line.cases < SMALL_GROUP else "enough"]
            note = (f"1.00× is the median of all cases; 1.50× means half as long again. Groups of fewer than "
                    f"{SMALL_GROUP} cases are marked as small samples: read them with care.")
        return Table(name, f"Response and resolution times by {WORDS[by]}", columns, rows,
                     _times_chart(by, labels, lines) if lines else None, note)
    return build


def _ratio(value: float | None, overall: float | None) -> float | None:
    return None if value is None or not overall else value / overall


@_named("overall")
def times_overall(session, f: Filters) -> Table:
    lines = figures.times(session, f, Dimension.ALL)
    return Table("overall", "Response and resolution times of all cases", [Column("Cases", "text"),
                                                                              *TIMES_COLUMNS],
                 [_times_row("All cases", line) for line in lines])


SLA_COLUMNS = [Column("First response met"), Column("First response missed"),
               Column("First response attained", "percent"), Column("Resolution met"), Column("Resolution missed"),
               Column("Resolution attained", "percent")]


def _sla_table(by: Dimension) -> Callable[..., Table]:
    name = _table_name(by)

    @_named(name)
    def build(session, f: Filters) -> Table:
        lines = figures.sla_attainment(session, f, by)
        labels = [_label(by, line) for line in lines]
        rows = [[label, line.first_response_met, line.first_response_missed, line.first_response_rate,
                 line.resolution_met, line.resolution_missed, line.resolution_rate]
                for label, line in zip(labels, lines)]
        lowest = min((line for line in lines if line.first_response_rate is not None),
                     key=lambda line: line.first_response_rate, default=None)
        summary = f"Bar chart of the share of SLA targets met by {WORDS[by]}, in percent."
        if lowest is not None:
            summary += f" The lowest first-response attainment is {lowest.label}: {lowest.first_response_rate:.0f} %."
        chart = _chart("bar", labels, {"First response attained (%)": [line.first_response_rate for line in lines],
                                       "Resolution attained (%)": [line.resolution_rate for line in lines]},
                       "percent", summary, max=100) if lines else None
        return Table(name, f"SLA attainment by {WORDS[by]}", [Column(WORDS[by].capitalize(), "text"), *SLA_COLUMNS],
                     rows, chart, "A target is met when the clock stopped by its due time (business hours, pauses "
                     "excluded), missed when it stopped later or an open case is past it. Cases with no SLA policy "
                     "and clocks still running in time count in neither.")
    return build


@_named("agents")
def agents_table(session, f: Filters) -> Table:
    lines = figures.agents(session, f)
    return Table("agents", "Agents: cases resolved in the range, open cases now and satisfaction",
                 [Column("Agent", "text"), Column("Resolved"), Column("Resolution, median", "duration"),
                  Column("First response, median", "duration"), Column("Open now"), Column("Survey answers"),
                  Column("Satisfaction, average of 5", "score")],
                 [[line.name, line.resolved, line.resolution_median, line.first_response_median, line.open_now,
                   line.csat_answers, line.csat_average] for line in lines],
                 _chart("bar", [line.name for line in lines], {"Resolved": [line.resolved for line in lines],
                                                               "Open now": [line.open_now for line in lines]},
                        "cases", "Bar chart of cases each agent resolved in the range and holds open now."
                        + ("" if not lines else f" {lines[0].name} resolved the most: {lines[0].resolved:,}."),
                        horizontal=True) if lines else None)


CSAT_COLUMNS = [Column("Surveys sent"), Column("Answers"), Column("Average of 5", "score"),
                Column("Satisfied (4 or 5)", "percent")]


def _csat_table(by: Dimension) -> Callable[..., Table]:
    name = _table_name(by)

    @_named(name)
    def build(session, f: Filters) -> Table:
        lines = figures.csat(session, f, by)
        labels = [_label(by, line) for line in lines]
        chart = None
        if by is not Dimension.ALL and lines:
            chart = _chart("bar", labels, {"Average score": [line.average for line in lines]}, "score",
                           f"Bar chart of the average satisfaction score (1 to 5) by {WORDS[by]}.", max=5)
        caption = "Satisfaction of all cases" if by is Dimension.ALL else f"Satisfaction by {WORDS[by]}"
        return Table(name, caption, [Column(WORDS[by].capitalize(), "text"), *CSAT_COLUMNS],
                     [[label, line.sent, line.answered, line.average, line.satisfied_rate]
                      for label, line in zip(labels, lines)], chart)
    return build


@_named("scores")
def csat_scores(session, f: Filters) -> Table:
    scores = figures.csat_scores(session, f)
    total = sum(n for _, n in scores)
    return Table("scores", "Answers by score", [Column("Score", "text"), Column("Answers"), Column("Share", "percent")],
                 [[str(score), n, 100.0 * n / total if total else None] for score, n in scores],
                 _chart("bar", [str(score) for score, _ in scores], {"Answers": [n for _, n in scores]}, "answers",
                        f"Bar chart of {total:,} survey answers by score from 1 (very dissatisfied) to 5 (very "
                        "satisfied)."))


@dataclass(frozen=True)
class Page:
    title: str
    intro: str
    tables: dict[str, Callable[..., Table]] = field(default_factory=dict)


PAGES = {
    "volume": Page("Volume", "How many cases arrived, through which channel, for which queue and category, and when.",
                   _tables(volume_by_day, _volume_table(Dimension.CHANNEL), _volume_table(Dimension.QUEUE),
                           _volume_table(Dimension.CATEGORY), volume_by_hour)),
    "times": Page("Response and resolution times",
                  "Wall-clock time from a case's arrival to the first response and to its resolution, for the "
                  "cases created in the range: the median (half were faster) and the 90th percentile (one in ten "
                  "waited longer).",
                  _tables(times_overall, _times_table(Dimension.QUEUE), _times_table(Dimension.CHANNEL),
                          _times_table(Dimension.LANGUAGE))),
    "sla": Page("SLA attainment", "How many of the cases created in the range met their queue's SLA targets.",
                _tables(_sla_table(Dimension.QUEUE), _sla_table(Dimension.CHANNEL))),
    "agents": Page("Agents", "What each agent resolved in the range, how fast, what they hold now, and what "
                             "constituents said about the cases they resolved.", _tables(agents_table)),
    "csat": Page("Satisfaction", "The one-question survey sent when a case is resolved: surveys sent in the range "
                                 "and answers given in it.",
                 _tables(_csat_table(Dimension.ALL), csat_scores, _csat_table(Dimension.QUEUE),
                         _csat_table(Dimension.CHANNEL), _csat_table(Dimension.LANGUAGE))),
    "equity": Page("Equity", "The same response and resolution times by the constituent's language and by the "
                             "area the case is about, against all cases: whom the service answers more slowly.",
                   _tables(_times_table(Dimension.LANGUAGE, compare=True),
                           _times_table(Dimension.DISTRICT, compare=True))),
}


def _page_or_404(slug: str) -> Page:
    page = PAGES.get(slug)
    if page is None:
        abort(404)
    return page


@bp.get("/")
def index():
    """The first report, with whatever range was asked for."""
    return redirect(url_for(".page", slug="volume", **request.args))


@bp.get("/<slug>")
def page(slug: str):
    """One report page for the range in the query string (the last 30 days without one)."""
    report = _page_or_404(slug)
    form = _range_form()
    if not form.validate():
        return render_template("reports/page.html", slug=slug, report=report, pages=PAGES, form=form, tables=[],
                               args={}, format_cell=format_cell), 400
    f, session = form.filters(), Session()
    tables = [build(session, f) for build in report.tables.values()]
    return render_template("reports/page.html", slug=slug, report=report, pages=PAGES, form=form, tables=tables,
                           args=form.as_args(), format_cell=format_cell)


@bp.get("/<slug>/<table>.csv")
def export(slug: str, table: str):
    """One table as CSV. Records the export (who, which table, which range) as an AuditEvent and commits."""
    build = _page_or_404(slug).tables.get(table)
    if build is None:
        abort(404)
    form = _range_form()
    if not form.validate():
        errors = "; ".join(message for messages in form.errors.values() for message in messages)
        return Response(f"The report's range is not valid: {errors}\n", 400, mimetype="text/plain")
    args = form.as_args()
    result = build(Session(), form.filters())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(result.csv_header())
    for row in result.rows:
        writer.writerow([result.csv_cell(value, column) for value, column in zip(row, result.columns)])
    audit.view("report", f"{slug}/{table}", action=AuditAction.EXPORT, rows=len(result.rows), **args)
    log.info("user %s exported report %s/%s", current_user.id, slug, table)
    filename = f"casework-{slug}-{table}-{args['start']}-to-{args['end']}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.app_template_global()
def report_csv_url(slug: str, table: str, args: dict) -> str:
    """The CSV download of one table of a page, for the range in `args`."""
    return url_for("reports.export", slug=slug, table=table, **args)
