"""Domain errors of the routing engine: each carries an error id and details.

The web layer maps ``error_id`` to an HTTP status and the CLI to a message;
nobody parses the text. Caller numbers never appear in messages or details.
"""
from __future__ import annotations

from typing import Any

from kernel.errors import DomainError


class AgentsError(DomainError):
    """Base of the agents package's errors."""

    error_id = "agents_error"


class ConfigInvalid(AgentsError):
    """The seats configuration has problems (all of them are listed)."""

    error_id = "seats_config_invalid"

    def __init__(self, problems: list[Any], source: str = "") -> None:
        lines = [str(p) for p in problems]
        head = f"{source}: " if source else ""
        super().__init__(head + f"{len(lines)} problem(s): " + "; ".join(lines),
                         source=source, problems=[p.to_dict() if hasattr(p, "to_dict") else str(p)
                                                  for p in problems])
        self.problems = list(problems)


class UnknownSeat(AgentsError):
    error_id = "unknown_seat"


class UnknownOperator(AgentsError):
    error_id = "unknown_operator"


class UnknownLane(AgentsError):
    error_id = "unknown_lane"


class UnknownPauseReason(AgentsError):
    error_id = "unknown_pause_reason"


class NotLoggedIn(AgentsError):
    """The seat has no operator."""

    error_id = "not_logged_in"


class AlreadyLoggedIn(AgentsError):
    """The seat already has an operator (or this operator is on another seat)."""

    error_id = "already_logged_in"


class SeatBusy(AgentsError):
    """The seat is ringing or on a call: the change must wait for the call to end."""

    error_id = "seat_busy"


class InvalidTransition(AgentsError):
    """The seat (or call) is not in a state that allows this change."""

    error_id = "invalid_transition"


class UnknownCall(AgentsError):
    error_id = "unknown_call"


class DuplicateCall(AgentsError):
    """A call with this id is already waiting or being served."""

    error_id = "duplicate_call"


class CallStateError(AgentsError):
    """The call is not in a state that allows this operation (e.g. answering a waiting call)."""

    error_id = "call_state"


_BY_CODE: dict[str, type[AgentsError]] = {
    cls.error_id: cls for cls in (
        UnknownSeat, UnknownOperator, UnknownLane, UnknownPauseReason, NotLoggedIn, AlreadyLoggedIn,
        SeatBusy, InvalidTransition, UnknownCall, DuplicateCall, CallStateError,
    )
}


def from_code(code: str, message: str, **details: Any) -> AgentsError:
    """The domain error for an error code returned by a store script."""
    return _BY_CODE.get(code, AgentsError)(message, **details)
