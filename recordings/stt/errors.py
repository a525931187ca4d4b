"""Errors of the speech-to-text service. Each has an `error_id` and a
`details` mapping, so the web layer and the CLI can map them without
parsing text, and workers can send them to the parent as data."""
from __future__ import annotations

from typing import Any

from kernel.errors import DomainError, HotlineError


class STTError(DomainError):
    """STTError(message, **details), as every domain error; sent between processes by `to_dict`."""

    error_id = "stt_error"

    def to_dict(self) -> dict[str, Any]:            # the wire form workers send (`error_id`, not `error`)
        return {"error_id": self.error_id, "message": str(self), "details": self.details}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> STTError:
        """Rebuild an error a worker sent (unknown ids become STTError)."""
        cls = _BY_ID.get(data.get("error_id", ""), STTError)
        err = cls.__new__(cls)
        HotlineError.__init__(err, data.get("message", ""))
        err.details = dict(data.get("details") or {})
        return err


class ModelNotFoundError(STTError):
    """The model path is missing, not a folder, or not a vosk model."""

    error_id = "stt_model_not_found"

    def __init__(self, path: Any, reason: str, **details: Any) -> None:
        super().__init__(f"speech model {path}: {reason}", path=str(path), reason=reason, **details)


class ModelLoadError(STTError):
    """The folder looked like a model but the engine refused to load it."""

    error_id = "stt_model_load_failed"


class STTBusyError(STTError):
    """The pool stayed saturated for longer than its busy timeout."""

    error_id = "stt_busy"


class STTWorkerError(STTError):
    """The worker running a session died or stalled; the session is over."""

    error_id = "stt_worker_died"


class STTClosedError(STTError):
    """The pool or the session is closed."""

    error_id = "stt_closed"


class STTProtocolError(STTError):
    """A malformed message between the pool and a worker."""

    error_id = "stt_protocol"


_BY_ID = {cls.error_id: cls for cls in (STTError, ModelNotFoundError, ModelLoadError, STTBusyError,
                                        STTWorkerError, STTClosedError, STTProtocolError)}
