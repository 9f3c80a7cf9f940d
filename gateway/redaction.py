"""Operator secrets never leave: keys from the YAML, the environment and the gateway's own
credentials are replaced by `[redacted]` in every answer the LiteLLM path gives and in
every log line the process writes (an upstream may echo the `Authorization` header it got).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

MASK = "[redacted]"


class Redactor:
    """Replaces known secret strings in text and bytes (longest first, so none leaks a tail)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self._raw = tuple(s.encode() for s in self.secrets)

    def text(self, value: str) -> str:
        """`value` with every secret masked."""
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def raw(self, value: bytes) -> bytes:
        """`value` (UTF-8 bytes) with every secret masked."""
        for secret in self._raw:
            if secret in value:
                value = value.replace(secret, MASK.encode())
        return value


class RedactingRecordFactory:
    """A log record factory that masks secrets in the message and the exception text."""

    def __init__(self, inner: Any, redactor: Redactor) -> None:
        self.inner = inner
        self.redactor = redactor

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call: keep what logging would have done
            return record
        record.msg, record.args = self.redactor.text(message), None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = self.redactor.text(formatter.formatException(record.exc_info))
            record.exc_info = None
        return record


def redact_logs(redactor: Redactor) -> None:
    """Mask `redactor`'s secrets in every log record from now on, whoever logs it."""
    current = logging.getLogRecordFactory()
    secrets = set(redactor.secrets)
    while isinstance(current, RedactingRecordFactory):  # one layer, holding every secret
        secrets |= set(current.redactor.secrets)
        current = current.inner
    logging.setLogRecordFactory(RedactingRecordFactory(current, Redactor(secrets)))
