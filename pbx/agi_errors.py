"""Typed errors of the FastAGI protocol (AGI replies, transport, our own checks).

Every error carries an ``error_id`` (stable, for mapping and metrics), the
command line it concerns, the AGI reply code when there was one, and a
details dict. ``str(error)`` never shows caller numbers: the command text is
masked before it is put in the message.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kernel.errors import HotlineError
from kernel.privacy import mask_text


class AGIError(HotlineError):
    """Base of every FastAGI error."""

    default_id = "agi_error"

    def __init__(
        self,
        error_id: str | None = None,
        message: str = "",
        *,
        command: str = "",
        code: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        error_id = error_id or self.default_id
        self.command = command
        self.code = code
        self.details = dict(details or {})
        text = error_id
        if message:
            text += f": {message}"
        if command:
            text += f" [{mask_text(command)[:200]}]"
        if code is not None:
            text += f" (code {code})"
        super().__init__(message, error_id=error_id, text=text)


class AGIHangup(AGIError):
    """The caller hung up: Asterisk sent ``HANGUP``, or ``result=-1`` after it."""

    default_id = "hangup"


class AGIConnectionClosed(AGIHangup):
    """Asterisk closed the FastAGI socket (end of the channel, or Asterisk stopping)."""

    default_id = "connection_closed"


class AGIDeadChannel(AGIHangup):
    """``511 Command Not Permitted on a dead channel or intercept routine``."""

    default_id = "dead_channel"


class AGIInvalidCommand(AGIError):
    """``510 Invalid or unknown command``."""

    default_id = "invalid_command"


class AGIUsageError(AGIError):
    """``520`` reply: invalid syntax; ``details["usage"]`` holds Asterisk's usage text."""

    default_id = "usage_error"


class AGIProtocolError(AGIError):
    """A reply or header that does not follow the protocol (malformed, too long, not UTF-8)."""

    default_id = "protocol_error"


class AGITimeout(AGIError):
    """No (complete) reply or header within the allowed time."""

    default_id = "timeout"


class AGIArgumentError(AGIError, ValueError):
    """A command we refuse to send (newline in an argument, line too long, bad name)."""

    default_id = "invalid_argument"
