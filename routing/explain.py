"""Routing decisions in words, for the case page: `describe(decision)`."""
from models import DecisionKind, DecisionOutcome, RoutingDecision

LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "it": "Italian", "fr": "French", "de": "German",
                  "pt": "Portuguese", "zh": "Chinese", "ar": "Arabic", "pl": "Polish", "vi": "Vietnamese",
                  "ru": "Russian", "tl": "Tagalog", "ko": "Korean", "uk": "Ukrainian"}
_OUTCOME_WORDS = {DecisionOutcome.ASSIGNED: "Assigned to", DecisionOutcome.OFFERED: "Offered to",
                  DecisionOutcome.ACCEPTED: "Offered to and accepted by",
                  DecisionOutcome.DECLINED: "Offered to and declined by",
                  DecisionOutcome.TIMED_OUT: "Offered to and not answered in time by",
                  DecisionOutcome.CANCELLED: "Offered to and withdrawn from"}


def language_name(code: str | None) -> str:
    return LANGUAGE_NAMES.get(code or "", code or "any language")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _filters(explanation: dict) -> list[str]:
    filtered = explanation.get("filtered", {})
    language = language_name(explanation.get("language"))
    skills = ", ".join(f"'{s}'" for s in explanation.get("skills", []))
    absent = explanation.get("absent", {})
    words = {"presence": ", ".join(f"{n} {state}" for state, n in sorted(absent.items(), key=lambda kv: kv[0] != "offline"))
             or f"{filtered.get('presence', 0)} not available",
             "language": f"{filtered.get('language', 0)} without {language}",
             "skill": f"{filtered.get('skill', 0)} without skill {skills}",
             "capacity": f"{filtered.get('capacity', 0)} at capacity",
             "declined": f"{filtered.get('declined', 0)} declined it before"}
    return [text for reason, text in words.items() if filtered.get(reason)]


def _why(explanation: dict) -> str:
    pick = explanation["pick"]
    reasons = []
    if explanation.get("language"):
        reasons.append(f"speaks {language_name(explanation['language'])}")
    for code in explanation.get("skills", []):
        reasons.append(f"has skill '{code}'")
    reasons.append(f"{pick['used']} of {pick['slots']} {explanation['channel']} slots used")
    return ", ".join(reasons)


def _routed(decision: RoutingDecision, explanation: dict) -> str:
    pick = explanation["pick"]
    others = explanation.get("considered", 1) - 1
    text = f"{_OUTCOME_WORDS[decision.outcome]} {pick['name']}: {_why(explanation)}"
    text += f"; {others} others considered" if others != 1 else "; 1 other considered"
    filters = _filters(explanation)
    text += (", " + ", ".join(filters) if filters else "")
    age = explanation.get("loads_age_ms", 0) // 1000
    return text + (f" (the others' presence and loads as seen {age} s before)" if age else "") + "."


def _no_candidate(explanation: dict) -> str:
    considered = explanation.get("considered", 0)
    filters = _filters(explanation)
    text = f"Nobody could take it: {_plural(considered, 'member')} of the queue considered"
    return text + (", " + ", ".join(filters) if filters else "") + "."


def _overflow(explanation: dict) -> str:
    waited = explanation.get("waited_seconds", 0)
    if "to_queue" in explanation:
        return f"Moved to the overflow queue (#{explanation['to_queue']}) after waiting {waited} s."
    dropped = ", ".join(f"'{s}'" for s in explanation.get("dropped_skills", []))
    return f"After waiting {waited} s, no longer needs the non-essential skills {dropped}."


def describe(decision: RoutingDecision) -> str:
    """One or two sentences saying what routing decided for a case and why, from the stored explanation."""
    explanation = decision.explanation or {}
    if decision.kind is DecisionKind.OVERFLOW:
        return _overflow(explanation)
    if decision.kind is DecisionKind.RELEASE:
        return f"Returned to the queue: {explanation.get('reason', decision.rule or 'released')}."
    if decision.kind is DecisionKind.MANUAL:
        name = decision.user.display_name if decision.user is not None else f"user {decision.user_id}"
        forced = " (over capacity)" if explanation.get("forced") else ""
        return f"Assigned by hand to {name}{forced}."
    if decision.outcome is DecisionOutcome.NO_CANDIDATE:
        return _no_candidate(explanation)
    if "pick" in explanation and decision.outcome in _OUTCOME_WORDS:
        return _routed(decision, explanation)
    return f"{decision.kind.value}: {decision.outcome.value}."
