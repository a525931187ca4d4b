"""FastAGI protocol: reply parsing, argument quoting, the call environment, and
one call's session with typed commands.

Wire format (checked against Asterisk 16.28, res_agi):
- after connecting, Asterisk sends ``agi_xxx: value`` lines (UTF-8), then an
  empty line; ``agi_network``/``agi_network_script`` come first for FastAGI;
- each command is one line ending in ``\\n``; Asterisk reads at most 2047
  bytes per line (newline included): a longer line is cut in two commands,
  so we refuse to send one;
- arguments are split on spaces and tabs; ``"`` groups, ``\\`` escapes the
  next character (and is dropped: ``"a\\nb"`` arrives as ``anb``);
- replies: ``200 result=<r>[ (<data>)][ key=value...]``,
  ``510 Invalid or unknown command``,
  ``511 Command Not Permitted on a dead channel or intercept routine``,
  ``520-Invalid command syntax.  Proper usage follows:`` ... ``520 End of proper usage.``;
- when the channel hangs up Asterisk sends a line ``HANGUP`` (right after the
  reply of the command that noticed it, or unprompted while the script is
  idle), so it is usually read in front of the next command's reply.
  ``result=-1`` alone is ambiguous (``STREAM FILE`` of a missing file gives
  ``result=-1 endpos=0`` on a live channel): a ``HANGUP`` line right after it
  tells a hangup from a failure.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit

from kernel.privacy import mask_text
from pbx.agi_errors import (
    AGIArgumentError,
    AGIConnectionClosed,
    AGIDeadChannel,
    AGIError,
    AGIHangup,
    AGIInvalidCommand,
    AGIProtocolError,
    AGITimeout,
    AGIUsageError,
)

__all__ = [
    "AGIArgumentError", "AGIConnectionClosed", "AGIDeadChannel", "AGIEnvironment", "AGIError",
    "AGIHangup", "AGIInvalidCommand", "AGIProtocolError", "AGIResponse", "AGISession", "AGITimeout",
    "AGIUsageError", "MAX_COMMAND_BYTES", "build_command", "parse_environment", "parse_header_line",
    "parse_reply", "quote_arg",
]

# Asterisk reads a command with fgets into a 2048-byte buffer: 2046 bytes of
# command, the newline and the NUL. Anything longer is split into two commands.
MAX_COMMAND_BYTES = 2046
MAX_REPLY_LINES = 500          # a 520 usage text is a few dozen lines

_CODE_LINE = re.compile(r"(\d{3})([ -])(.*)", re.S)
_RESULT = re.compile(r"result=(\S*)(?: (.*))?", re.S)
_EXTRA = r"[^\s=()]+=\S*"
_DATA_AND_EXTRAS = re.compile(rf"\((.*)\)((?: +{_EXTRA})*) *", re.S)
_EXTRAS_ONLY = re.compile(rf"{_EXTRA}(?: +{_EXTRA})* *", re.S)
_HEADER = re.compile(r"(agi_[A-Za-z0-9_]+):(?: (.*))?", re.S)
_APP_NAME = re.compile(r"[A-Za-z0-9_]+")
_DIGITS = re.compile(r"[0-9*#A-Da-d]*")
_FORBIDDEN = ("\r", "\n", "\0")


# --------------------------------------------------------------------------- quoting


def quote_arg(value: str) -> str:
    """One AGI argument: always in double quotes, with ``\\`` and ``"`` escaped.

    CR, LF and NUL are refused: a newline would end the command (and what
    follows would run as another command); a NUL ends the C string.
    """
    value = str(value)
    for ch in _FORBIDDEN:
        if ch in value:
            raise AGIArgumentError("newline_in_argument", "CR, LF or NUL in an AGI argument",
                                   details={"char": repr(ch)})
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_command(words: Sequence[str]) -> str:
    """Join command words (already quoted where needed) into one command line, checked."""
    if not words:
        raise AGIArgumentError("empty_command", "no command words")
    line = " ".join(str(w) for w in words)
    for ch in _FORBIDDEN:
        if ch in line:
            raise AGIArgumentError("newline_in_argument", "CR, LF or NUL in an AGI command",
                                   command=line.replace("\n", " ").replace("\r", " ").replace("\0", " "))
    size = len(line.encode("utf-8"))
    if size > MAX_COMMAND_BYTES:
        raise AGIArgumentError("command_too_long", f"{size} bytes, Asterisk reads at most {MAX_COMMAND_BYTES}",
                               command=line[:80], details={"bytes": size, "max": MAX_COMMAND_BYTES})
    return line


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class AGIResponse:
    """One reply. For 200: ``result``, optional ``(data)`` and ``key=value`` extras.
    For 510/511/520: ``result`` is "" and ``data`` the message (520: the usage text)."""

    code: int
    result: str
    data: str | None
    extras: Mapping[str, str] = field(default_factory=dict)
    raw: str = ""

    @property
    def result_int(self) -> int:
        try:
            return int(self.result)
        except ValueError:
            raise AGIProtocolError("result_not_integer", f"result={self.result!r}",
                                   code=self.code, details={"reply": self.raw}) from None


def parse_reply(lines: Sequence[str]) -> AGIResponse:
    """Parse one complete reply (one line, or a ``NNN-`` ... ``NNN `` block), without line ends."""
    if not lines:
        raise AGIProtocolError("empty_reply", "no reply line")
    raw = "\n".join(lines)
    m = _CODE_LINE.fullmatch(lines[0])
    if not m:
        raise AGIProtocolError("malformed_reply", "no status code", details={"line": lines[0][:200]})
    code, sep, text = int(m.group(1)), m.group(2), m.group(3)
    if sep == "-":
        end = lines[-1]
        if len(lines) < 2 or not end.startswith(f"{code} "):
            raise AGIProtocolError("malformed_reply", "unterminated multi-line reply", code=code,
                                   details={"line": lines[0][:200]})
        return AGIResponse(code, "", "\n".join(lines[1:-1]), MappingProxyType({}), raw)
    if len(lines) != 1:
        raise AGIProtocolError("malformed_reply", "extra lines after a one-line reply", code=code)
    if code != 200:
        return AGIResponse(code, "", text, MappingProxyType({}), raw)
    r = _RESULT.fullmatch(text)
    if not r:
        raise AGIProtocolError("malformed_reply", "200 without result=", code=code, details={"line": text[:200]})
    result, rest = r.group(1), r.group(2)
    data: str | None = None
    extras: dict[str, str] = {}
    if rest:
        dm = _DATA_AND_EXTRAS.fullmatch(rest) if rest.startswith("(") else None
        if dm:                                   # greedy: the data may itself hold ")" (GET VARIABLE)
            data, tail = dm.group(1), dm.group(2)
        elif _EXTRAS_ONLY.fullmatch(rest):
            tail = rest
        else:                                    # free text, e.g. "Gosub complete"
            data, tail = rest.strip(), ""
        for token in tail.split():
            key, _, value = token.partition("=")
            extras[key] = value
    return AGIResponse(code, result, data, MappingProxyType(extras), raw)


# --------------------------------------------------------------------------- environment


def parse_header_line(line: str) -> tuple[str, str]:
    """``agi_key: value`` -> (key, value); anything else is a protocol error."""
    m = _HEADER.fullmatch(line)
    if not m:
        raise AGIProtocolError("header_malformed", "not an 'agi_xxx: value' line", details={"line": line[:80]})
    return m.group(1), m.group(2) or ""


def _known(value: str | None) -> str:
    return "" if value in (None, "unknown") else value


@dataclass(frozen=True)
class AGIEnvironment:
    """The ``agi_*`` headers of one call. Caller fields Asterisk reports as "unknown" read as ""."""

    raw: Mapping[str, str]

    def get(self, key: str, default: str = "") -> str:
        """A header by full name (``agi_language``) or short name (``language``)."""
        if not key.startswith("agi_"):
            key = "agi_" + key
        return self.raw.get(key, default)

    @property
    def request(self) -> str:
        return self.raw.get("agi_request", "")

    @property
    def channel(self) -> str:
        return self.raw.get("agi_channel", "")

    @property
    def uniqueid(self) -> str:
        return self.raw.get("agi_uniqueid", "")

    @property
    def linkedid(self) -> str | None:
        """Not sent by Asterisk 16 (None then); read from the header if a later version sends it."""
        return self.raw.get("agi_linkedid")

    @property
    def callerid(self) -> str:
        return _known(self.raw.get("agi_callerid"))

    @property
    def calleridname(self) -> str:
        return _known(self.raw.get("agi_calleridname"))

    @property
    def dnid(self) -> str:
        return _known(self.raw.get("agi_dnid"))

    @property
    def rdnis(self) -> str:
        return _known(self.raw.get("agi_rdnis"))

    @property
    def context(self) -> str:
        return self.raw.get("agi_context", "")

    @property
    def extension(self) -> str:
        return self.raw.get("agi_extension", "")

    @property
    def priority(self) -> int:
        try:
            return int(self.raw.get("agi_priority", "0"))
        except ValueError:
            return 0

    @property
    def language(self) -> str:
        return self.raw.get("agi_language", "")

    def _script_and_query(self) -> tuple[str, str]:
        script = self.raw.get("agi_network_script")
        if script is None:                         # not sent when the URL has no path: use the request
            parts = urlsplit(self.request)
            return parts.path, parts.query
        path, _, query = script.partition("?")
        return path, query

    @property
    def network_script(self) -> str:
        """The path after ``host:port/``, without the leading slash and the query: ``ivr``."""
        return self._script_and_query()[0].strip("/")

    @property
    def network_query(self) -> Mapping[str, str]:
        """The query of the AGI URL (``agi://h:p/ivr?tree=3`` -> {"tree": "3"})."""
        return MappingProxyType(dict(parse_qsl(self._script_and_query()[1], keep_blank_values=True)))

    @property
    def arguments(self) -> tuple[str, ...]:
        """``agi_arg_1`` .. ``agi_arg_N`` (the AGI() application's arguments after the URL)."""
        args: list[str] = []
        while (value := self.raw.get(f"agi_arg_{len(args) + 1}")) is not None:
            args.append(value)
        return tuple(args)


def parse_environment(lines: Iterable[str]) -> AGIEnvironment:
    """Build the environment from header lines (without the terminating empty line)."""
    raw: dict[str, str] = {}
    for line in lines:
        key, value = parse_header_line(line)
        raw[key] = value
    if "agi_request" not in raw:
        raise AGIProtocolError("header_incomplete", "no agi_request header", details={"keys": sorted(raw)[:20]})
    return AGIEnvironment(MappingProxyType(raw))


# --------------------------------------------------------------------------- session


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = _Default()
"""Sentinel for ``timeout``: the session's ``command_timeout``."""


def _check_digits(digits: str, what: str = "escape_digits") -> str:
    if not _DIGITS.fullmatch(digits):
        raise AGIArgumentError("invalid_digits", f"{what} may hold only 0-9 * # A-D", details={what: digits})
    return digits


class AGISession:
    """One FastAGI call: send commands, read replies, raise typed errors.

    Commands are serialised (one in flight at a time). A reply that was not
    read (timeout, cancellation) is skipped before the next command's reply,
    so the session stays in step with Asterisk; a reply cut in the middle
    leaves the session unusable (``AGIProtocolError``).
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: AGIEnvironment,
        *,
        command_timeout: float | None = 30.0,
        hangup_grace: float = 0.25,
        log: logging.Logger | None = None,
    ) -> None:
        self.env = env
        self.command_timeout = command_timeout
        self._hangup_grace = hangup_grace
        self._reader = reader
        self._writer = writer
        self._log = log or logging.getLogger(__name__)
        self._lock = asyncio.Lock()
        self._pending = 0                # replies Asterisk owes us that nobody has read yet
        self._partial = False            # in the middle of reading a reply
        self._broken: str | None = None  # why the stream can no longer be trusted
        self._hangup_seen = False
        self._hangup_reported = False
        self._closed = False

    # ----------------------------------------------------------------- state

    @property
    def hung_up(self) -> bool:
        return self._hangup_seen

    @property
    def closed(self) -> bool:
        return self._closed

    # ----------------------------------------------------------------- wire

    async def _readline(self) -> str:
        try:
            raw = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            self._closed = True
            raise AGIConnectionClosed(message="Asterisk closed the connection") from None
        except asyncio.LimitOverrunError:
            self._broken = "reply_too_long"
            raise AGIProtocolError("reply_too_long", "reply line longer than the stream limit") from None
        except OSError as exc:
            self._closed = True
            raise AGIConnectionClosed(message=f"read failed: {exc}") from exc
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def _send(self, line: str) -> None:
        if self._closed or self._writer.is_closing():
            self._closed = True
            raise AGIConnectionClosed(message="connection already closed", command=line)
        self._log.debug("AGI >> %s", mask_text(line))
        try:
            self._writer.write(line.encode("utf-8") + b"\n")
            self._pending += 1
            await self._writer.drain()
        except OSError as exc:
            self._closed = True
            raise AGIConnectionClosed(message=f"write failed: {exc}", command=line) from exc

    async def _read_reply(self) -> tuple[AGIResponse, bool]:
        """One complete reply; also reports whether a HANGUP line came in front of it."""
        lines: list[str] = []
        saw_hangup = False
        code = ""
        while True:
            line = await self._readline()
            if not lines:
                if line == "HANGUP":
                    self._hangup_seen = saw_hangup = True
                    continue
                m = _CODE_LINE.fullmatch(line)
                if not m:
                    self._broken = "unexpected_line"
                    raise AGIProtocolError("unexpected_line", "not an AGI reply", details={"line": line[:200]})
                lines.append(line)
                self._partial = True
                if m.group(2) == " ":
                    break
                code = m.group(1)
            else:
                lines.append(line)
                if line.startswith(code + " "):
                    break
                if len(lines) > MAX_REPLY_LINES:
                    self._broken = "reply_too_long"
                    raise AGIProtocolError("reply_too_long", f"more than {MAX_REPLY_LINES} lines")
        self._partial = False
        self._pending -= 1
        try:
            return parse_reply(lines), saw_hangup
        except AGIProtocolError:
            self._broken = "malformed_reply"
            raise

    async def _exchange(self, line: str, timeout: float | None) -> tuple[AGIResponse, bool]:
        """Send one line and read its reply (skipping replies owed to earlier, abandoned commands)."""
        if self._broken:
            raise AGIProtocolError("desynchronized", "session unusable after an earlier error",
                                   command=line, details={"reason": self._broken})
        saw_hangup = False
        try:
            async with asyncio.timeout(timeout):
                await self._send(line)
                while self._pending > 1:
                    _, seen = await self._read_reply()
                    saw_hangup |= seen
                reply, seen = await self._read_reply()
                return reply, saw_hangup or seen
        except TimeoutError:
            raise AGITimeout("command_timeout", f"no reply within {timeout} s", command=line,
                             details={"timeout": timeout}) from None
        except AGIError as exc:
            if not exc.command:
                exc.command = line
            raise
        finally:
            if self._partial:            # interrupted in the middle of a reply: out of step for good
                self._partial = False
                self._broken = self._broken or "interrupted_reply"

    def _hangup(self, line: str, reply: AGIResponse | None, cls: type[AGIHangup] = AGIHangup) -> AGIHangup:
        self._hangup_seen = self._hangup_reported = True
        return cls(command=line, code=reply.code if reply else None,
                   details={"reply": reply.raw if reply else None})

    # ----------------------------------------------------------------- raw command

    async def command(self, *words: str, timeout: float | None | _Default = DEFAULT) -> AGIResponse:
        """Send one raw command (words joined by spaces, sent as given: quote arguments
        with ``quote_arg``) and return its 200 reply.

        Raises AGIInvalidCommand (510), AGIUsageError (520), AGIDeadChannel (511),
        AGIHangup (a HANGUP line came with this reply, or ``result=-1`` after one),
        AGITimeout, AGIConnectionClosed, AGIProtocolError, AGIArgumentError.
        """
        line = build_command(words)
        limit = self.command_timeout if isinstance(timeout, _Default) else timeout
        async with self._lock:
            reply, saw_hangup = await self._exchange(line, limit)
        if reply.code == 510:
            raise AGIInvalidCommand(command=line, code=510, details={"reply": reply.raw})
        if reply.code == 520:
            raise AGIUsageError(command=line, code=520, details={"usage": reply.data or ""})
        if reply.code == 511:
            raise self._hangup(line, reply, AGIDeadChannel)
        if reply.code != 200:
            raise AGIProtocolError("unexpected_code", command=line, code=reply.code, details={"reply": reply.raw})
        if saw_hangup and not self._hangup_reported:
            raise self._hangup(line, reply)
        if reply.result == "-1" and self._hangup_seen:
            raise self._hangup(line, reply)
        return reply

    async def _hung_up_after_failure(self) -> bool:
        """After ``result=-1``: did the channel hang up? Asterisk sends HANGUP right after the reply."""
        async with self._lock:
            if self._hangup_seen or self._closed:
                return True
            if self._broken or self._pending:
                return False
            try:
                async with asyncio.timeout(self._hangup_grace):
                    line = await self._readline()
            except TimeoutError:
                return False
            except AGIConnectionClosed:
                return True
            if line == "HANGUP":
                self._hangup_seen = True
                return True
            self._broken = "unexpected_line"
            raise AGIProtocolError("unexpected_line", "unprompted line from Asterisk", details={"line": line[:200]})

    async def _checked(self, words: Sequence[str], failure: str,
                       timeout: float | None | _Default = DEFAULT) -> AGIResponse:
        """A command whose ``result=-1`` means hangup or failure (AGIHangup / AGIError(failure))."""
        reply = await self.command(*words, timeout=timeout)
        if reply.result == "-1":
            line = " ".join(words)
            if await self._hung_up_after_failure():
                raise self._hangup(line, reply)
            raise AGIError(failure, command=line, code=reply.code, details={"reply": reply.raw})
        return reply

    @staticmethod
    def _digit(reply: AGIResponse) -> str:
        n = reply.result_int
        if n == 0:
            return ""
        if 0 < n < 128:
            return chr(n)
        raise AGIProtocolError("bad_digit", f"result={n}", code=reply.code, details={"reply": reply.raw})

    # ----------------------------------------------------------------- typed commands

    async def answer(self) -> None:
        await self._checked(("ANSWER",), "answer_failed")

    async def stream_file(self, name: str, escape_digits: str = "", offset: int = 0) -> str:
        """Play a sound file (no extension); return the digit that interrupted it, or ""."""
        words = ("STREAM", "FILE", quote_arg(name), quote_arg(_check_digits(escape_digits)), str(int(offset)))
        return self._digit(await self._checked(words, "playback_failed", timeout=None))

    async def get_data(self, prompt: str, timeout_ms: int | None = None,
                       max_digits: int | None = None) -> tuple[str, bool]:
        """Play ``prompt`` and read digits (``#`` ends); return (digits, timed_out)."""
        words = ["GET", "DATA", quote_arg(prompt)]
        if timeout_ms is not None or max_digits is not None:
            words.append(str(int(timeout_ms or 0)))          # 0: Asterisk's default timeout
        if max_digits is not None:
            words.append(str(int(max_digits)))
        reply = await self._checked(words, "get_data_failed", timeout=None)
        return reply.result, reply.data == "timeout"

    async def wait_for_digit(self, timeout_ms: int) -> str:
        """Wait for one digit (-1: for ever); "" on timeout."""
        limit = None if timeout_ms < 0 or self.command_timeout is None else timeout_ms / 1000 + self.command_timeout
        return self._digit(await self._checked(("WAIT", "FOR", "DIGIT", str(int(timeout_ms))), "wait_failed",
                                               timeout=limit))

    async def get_variable(self, name: str) -> str | None:
        """A channel variable or function (``CALLERID(num)``); None when unset."""
        reply = await self.command("GET", "VARIABLE", quote_arg(name))
        return (reply.data or "") if reply.result == "1" else None

    async def get_full_variable(self, expr: str) -> str | None:
        """Evaluate an expression with ``${...}`` substitutions; None when Asterisk reports failure."""
        reply = await self.command("GET", "FULL", "VARIABLE", quote_arg(expr))
        return (reply.data or "") if reply.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET", "VARIABLE", quote_arg(name), quote_arg(value))

    async def exec(self, app: str, *args: str, timeout: float | None = None) -> int:
        """Run a dialplan application; its arguments are joined with "," into one argument.
        Returns the application's result; -2 (no such application) raises AGIError("app_not_found")."""
        if not _APP_NAME.fullmatch(app):
            raise AGIArgumentError("invalid_app", "application name must be [A-Za-z0-9_]+", details={"app": app})
        words = ["EXEC", app]
        if args:
            words.append(quote_arg(",".join(str(a) for a in args)))
        reply = await self.command(*words, timeout=timeout)
        result = reply.result_int
        if result == -2:
            raise AGIError("app_not_found", f"no application {app}", command=" ".join(words),
                           code=reply.code, details={"app": app})
        if result == -1 and await self._hung_up_after_failure():
            raise self._hangup(" ".join(words), reply)
        return result

    async def say_digits(self, digits: str, escape_digits: str = "") -> str:
        words = ("SAY", "DIGITS", quote_arg(_check_digits(digits, "digits")), quote_arg(_check_digits(escape_digits)))
        return self._digit(await self._checked(words, "say_failed", timeout=None))

    async def say_number(self, n: int, escape_digits: str = "") -> str:
        words = ("SAY", "NUMBER", str(int(n)), quote_arg(_check_digits(escape_digits)))
        return self._digit(await self._checked(words, "say_failed", timeout=None))

    async def verbose(self, message: str, level: int = 1) -> None:
        """A line in Asterisk's verbose log (newlines become spaces; long text is cut)."""
        text = message.replace("\r", " ").replace("\n", " ").replace("\0", " ")
        text = text.encode("utf-8")[:1000].decode("utf-8", "ignore")   # quoting may double it
        await self.command("VERBOSE", quote_arg(text), str(max(1, min(4, int(level)))))

    async def record_file(self, path_noext: str, fmt: str = "wav", escape_digits: str = "#",
                          timeout_ms: int = -1, silence_s: int | None = None,
                          beep: bool = True) -> AGIResponse:
        """Record to ``path_noext.fmt``. The reply's data tells why it stopped:
        "timeout", "dtmf" (result = the digit's code), or a failure."""
        words = ["RECORD", "FILE", quote_arg(path_noext), quote_arg(fmt),
                 quote_arg(_check_digits(escape_digits)), str(int(timeout_ms))]
        if beep:
            words.append("BEEP")
        if silence_s is not None:
            words.append(f"s={int(silence_s)}")
        reply = await self.command(*words, timeout=None)
        if reply.result == "-1":
            line = " ".join(words)
            if reply.data == "hangup" or await self._hung_up_after_failure():
                raise self._hangup(line, reply)
            raise AGIError("record_failed", reply.data or "", command=line, code=reply.code,
                           details={"reply": reply.raw})
        return reply

    async def set_music(self, on: bool, moh_class: str | None = None) -> None:
        if on:
            await self.command("SET", "MUSIC", "on", *([quote_arg(moh_class)] if moh_class else []))
        else:
            await self.command("SET", "MUSIC", "off")

    async def hangup(self) -> None:
        """Hang the channel up; nothing to do when it already is."""
        if self._hangup_seen or self._closed:
            return
        try:
            await self.command("HANGUP")
        except AGIHangup:
            return
        self._hangup_seen = self._hangup_reported = True

    # ----------------------------------------------------------------- end of session

    async def try_command(self, *words: str, reply_timeout: float) -> bool:
        """Best effort, never raises (but CancelledError): send one command and wait at most
        ``reply_timeout`` for its reply. True when Asterisk accepted it (200). The line is
        written even when the session is out of step: Asterisk reads it after what it is doing."""
        if self._closed or self._lock.locked():
            return False
        try:
            line = build_command(words)
        except AGIArgumentError:
            return False
        async with self._lock:
            try:
                if self._broken:
                    await self._send(line)
                    return False
                reply, _ = await self._exchange(line, reply_timeout)
            except AGIError as exc:
                self._log.debug("best-effort AGI command not acknowledged: %s", exc)
                return False
        return reply.code == 200

    async def close(self, grace: float = 1.0) -> None:
        """End the session: half-close, let Asterisk close its side (it ends the AGI on EOF),
        then close. Bounded by ``grace`` seconds; never raises (but CancelledError)."""
        self._closed = True
        writer = self._writer
        if writer.is_closing():
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        try:
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout_at(deadline):
                while await self._reader.read(65536):
                    pass
        except (TimeoutError, OSError, RuntimeError):
            pass
        writer.close()
        try:
            async with asyncio.timeout_at(max(deadline, loop.time() + 0.05)):
                await writer.wait_closed()
        except (TimeoutError, OSError):
            writer.transport.abort()

    def abort(self) -> None:
        """Drop the connection at once."""
        self._closed = True
        self._writer.transport.abort()
