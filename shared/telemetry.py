"""Logging and telemetry: run and batch ids on every record, no personal data.

* :func:`run_context` sets ``run_id``/``batch_id``/``step`` for the current thread (a
  ``contextvars`` context); :class:`ContextFilter` copies them onto every log record, where
  the Azure Monitor OpenTelemetry exporter turns them into custom dimensions.
* :class:`RedactingFilter` masks anything shaped like an email address or an international
  phone number in log messages: a safety net, since the code logs counts and ids only.
  :func:`redact` applies the same masking to any text (the run events' free-text fields).
* :func:`configure` sends logs and traces to Application Insights through
  ``azure-monitor-opentelemetry`` when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set,
  authenticating with the managed identity (local auth is disabled on the component).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
from collections.abc import Iterator

from shared.config import Settings

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "snap_audience_run_context", default=None
)
_EMAIL = re.compile(r"[^\s@,;:<>\"']+@[^\s@,;:<>\"']+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+\d[\d\s().-]{6,}\d")
_configured = False


@contextlib.contextmanager
def run_context(**ids: str) -> Iterator[None]:
    """Attach ids (``run_id``, ``batch_id``, ``step``) to every log record in this block."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in ids.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Adds the current run context to each record (``record.run_id`` etc.).

    An attribute the record already has (given with ``extra=``, as the run events do) is
    kept: the context only fills in what the caller did not say.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def redact(text: str) -> str:
    """``text`` with email- and phone-shaped parts replaced by ``[email]`` / ``[phone]``."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


class RedactingFilter(logging.Filter):
    """Masks email- and phone-shaped text in the formatted message (not in attributes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_filters(logger: logging.Logger | None = None) -> None:
    """Put the context and redaction filters on every handler of ``logger`` (root)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
            handler.addFilter(RedactingFilter())


def configure(settings: Settings) -> None:
    """Configure logging once per process; Azure Monitor when its connection string is set."""
    global _configured
    if _configured:
        return
    _configured = True
    logging.getLogger("azure").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    connection_string = settings.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if connection_string:
        from azure.monitor.opentelemetry import configure_azure_monitor

        options: dict[str, object] = {"connection_string": connection_string}
        client_id = settings.get("AZURE_CLIENT_ID")
        if client_id:
            from azure.identity import ManagedIdentityCredential

            options["credential"] = ManagedIdentityCredential(client_id=client_id)
        configure_azure_monitor(**options)
    root = logging.getLogger()
    root.addFilter(ContextFilter())
    install_filters(root)
