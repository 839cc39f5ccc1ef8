"""Languages of the constituent pages (Flask-Babel). The staff console is in English."""
from flask import request, session

LANGUAGES = {"en": "English", "es": "Español", "it": "Italiano"}
PUBLIC_BLUEPRINTS = {"public", "chat"}


def select_locale() -> str:
    """?lang= (remembered in the session), then the session, then the browser's Accept-Language."""
    if request.blueprint not in PUBLIC_BLUEPRINTS:
        return "en"
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"
