"""The one base of the product's errors, and the domain errors built on it.

`HotlineError` carries a stable `error_id` and a `message`: the web layer maps the id to
a response and the CLI to a message; nobody parses the text. Each package's root error
derives from it, keeping its own constructor (`TicketsError(error_id, message)`,
`DomainError(message, **details)`, `AGIError(error_id, message, command=...)`...).
"""
from __future__ import annotations

from typing import Any


class HotlineError(Exception):
    """Base of every error the product raises on purpose: an error id and a message.

    `str(error)` is the message unless the subclass passes its own `text` (an id prefix,
    a masked command...)."""

    error_id: str = "error"

    def __init__(self, message: str = "", *, error_id: str | None = None, text: str | None = None) -> None:
        super().__init__(message if text is None else text)
        self.message = message
        if error_id is not None:
            self.error_id = error_id


class DomainError(HotlineError):
    """A refused domain operation: the class's error id, a message and structured details."""

    error_id = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error_id, "message": self.message, "details": self.details}


class ProcessError(HotlineError, RuntimeError):
    """A private service failed to start or stop; carries its log tail."""

    error_id = "process"

    def __init__(self, service: str, message: str, log_tail: str = "") -> None:
        super().__init__(message, text=f"{service}: {message}" + (f"\n--- log ---\n{log_tail}" if log_tail else ""))
        self.service = service
        self.log_tail = log_tail
