"""`--check-log-pii`: fail any test during which a log record held an email address or a phone number.

Hooks imported by tests/conftest.py; off unless asked for. While a test runs, every logger that propagates
to the root is heard at INFO (the third-party loggers that write content by design stay pinned as
logconfig.configure() pins them), and each record's message and exception text are matched against the
same patterns the log format redacts. Records of the test code itself (loggers under "tests") are exempt.
"""
import logging

import pytest

from caseworker import logconfig

OPTION = "--check-log-pii"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(OPTION, action="store_true", default=False,
                     help="fail a test when a log record emitted during it holds an email address or phone number")


class _Matches(logging.Handler):
    """Keeps what each record holds that looks like an email address or a phone number."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.found: list[str] = []
        self.plain = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "tests" or record.name.startswith("tests."):
            return
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001  (a broken format string is not this check's finding)
            text = str(record.msg)
        if record.exc_info:
            text += "\n" + self.plain.formatException(record.exc_info)
        if logconfig.redact(text) != text:
            self.found.append(f"{record.name} {record.levelname}: {text[:300]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    if not item.config.getoption(OPTION):
        return (yield)
    root, handler = logging.getLogger(), _Matches()
    pinned = {name: logging.getLogger(name).level for name in logconfig.CONTENT_LOGGERS}
    level = root.level
    for name in logconfig.CONTENT_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, pinned[name]))
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    root.addHandler(handler)
    try:
        result = yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, saved in pinned.items():
            logging.getLogger(name).setLevel(saved)
    if handler.found:
        raise AssertionError("personal data in log records:\n" + "\n".join(handler.found[:10]))
    return result
