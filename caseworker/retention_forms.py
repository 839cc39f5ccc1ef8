"""Forms of retention (issue 8): a case's legal hold, and a category's retention period. CSRF on each."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional

MAX_DAYS = 36_500          # a hundred years: anything longer is "never" (leave the period empty)


class LegalHoldForm(FlaskForm):
    """`hold` is the state asked for ("on" or "off"), so that two supervisors' clicks cannot undo each other."""

    hold = HiddenField(validators=[AnyOf(("on", "off"))])
    reason = TextAreaField("Reason (a matter, an order or a request; it is kept in the audit log)", validators=[
        InputRequired("Give the reason for placing or releasing the hold."), Length(max=500)],
        render_kw={"rows": 2})

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("prefix", "hold")          # ids unique on the busy case page: hold-reason
        super().__init__(*args, **kwargs)


class RetentionPeriodForm(FlaskForm):
    days = IntegerField("Days after closing", validators=[
        Optional(), NumberRange(min=0, max=MAX_DAYS, message=f"Enter a whole number of days from 0 to {MAX_DAYS}, "
                                                             "or leave it empty for the default.")],
        render_kw={"inputmode": "numeric"})
