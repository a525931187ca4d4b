"""The base of every domain error: a stable error id and structured details.

The web layer maps `error_id` to a response and the CLI to a message; nobody
parses the text.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    error_id = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.error_id, "message": self.message, "details": self.details}
