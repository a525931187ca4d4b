"""Our FastAGI server: one task per call, routing by script name, bounded header
reads, a known fallback on any handler error, and a graceful drain.

Whatever goes wrong with a call, the server leaves the channel where the
dialplan can take over: it sets ``HOTLINE_FALLBACK_REASON`` (best effort)
and closes the socket; the dialplan sees ``HOTLINE_NEXT`` empty and sends the
call to the fallback context. A bad client (junk, half headers, silence)
costs only its own connection.

Who may connect (issue #12 #2): only addresses in ``allowed_peers`` (the
Asterisk host; empty = anyone who reaches the bind address), and, with a
``secret``, only connections whose AGI URL starts with it
(``agi://host:port/<secret>/ivr``: the per-deployment secret is the first path
segment; the rest routes as before). A forged connection is closed before any
handler runs, so it cannot create a call record, get a seat assigned or touch
a seat's state; its script (the secret) is never logged.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from kernel.privacy import mask_number
from pbx import contract
from pbx.agi import AGIEnvironment, AGISession, parse_environment, parse_header_line, quote_arg
from pbx.agi_errors import AGIConnectionClosed, AGIError, AGIHangup, AGIProtocolError, AGITimeout

__all__ = ["FastAGIServer", "Handler", "ServerStats",
           "REASON_ERROR", "REASON_DRAIN", "REASON_NO_HANDLER"]

Handler = Callable[[AGISession], Awaitable[None]]

# Values of HOTLINE_FALLBACK_REASON set by this server.
REASON_ERROR = "error"            # the handler raised
REASON_DRAIN = "drain"            # still running when the drain time ran out
REASON_NO_HANDLER = "no_handler"  # no handler for the script and no default handler

_FALLBACK_REPLY_S = 1.0           # wait for Asterisk to acknowledge the fallback variable
_CLOSE_GRACE_S = 1.0              # wait for Asterisk to close its side after our EOF
_DRAIN_FALLBACK_REPLY_S = 0.3     # the same two, when stop() cancels a call: stop() must end on time
_DRAIN_CLOSE_GRACE_S = 0.3
_CANCEL_WAIT_S = 0.8              # how long stop() waits for cancelled calls to finish their fallback


@dataclass(frozen=True)
class ServerStats:
    """Counters since start (a snapshot)."""

    accepted: int = 0          # connections accepted
    completed: int = 0         # handler returned normally
    hangups: int = 0           # handler ended by a caller hangup (not an error)
    failed: int = 0            # handler raised: fallback "error"
    rejected_headers: int = 0  # closed before a handler ran: junk, half or slow headers
    no_handler: int = 0        # no handler for the script: fallback "no_handler"
    drained: int = 0           # cancelled at the end of the drain: fallback "drain"
    refused: int = 0           # arrived while stopping
    refused_peers: int = 0     # from an address not in allowed_peers
    refused_secret: int = 0    # without the deployment's secret in the AGI URL


@dataclass
class _Counters:
    accepted: int = 0
    completed: int = 0
    hangups: int = 0
    failed: int = 0
    rejected_headers: int = 0
    no_handler: int = 0
    drained: int = 0
    refused: int = 0
    refused_peers: int = 0
    refused_secret: int = 0


@dataclass
class _Call:
    peer: str
    session: AGISession | None = None
    draining: bool = False


class FastAGIServer:
    """FastAGI on ``asyncio.start_server``.

    ``handlers`` maps the script name of the AGI URL (``agi://host:port/ivr`` ->
    ``"ivr"``) to a coroutine function taking the call's AGISession.
    ``max_header_bytes`` bounds the whole header and also any single line read
    from the peer (header or reply).
    """

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        header_timeout: float = 5.0,
        max_header_bytes: int = 65536,
        drain_timeout: float = 10.0,
        default_handler: Handler | None = None,
        log: logging.Logger | None = None,
        command_timeout: float | None = 30.0,
        secret: str | None = None,
        allowed_peers: Iterable[str] = (),
    ) -> None:
        self._handlers = dict(handlers)
        self._secret = secret or None
        self._allowed = tuple(ipaddress.ip_network(p, strict=False) for p in allowed_peers)
        self._default_handler = default_handler
        self._host = host
        self._requested_port = port
        self._header_timeout = header_timeout
        self._max_header_bytes = max_header_bytes
        self._drain_timeout = drain_timeout
        self._command_timeout = command_timeout
        self._log = log or logging.getLogger(__name__)
        self._server: asyncio.AbstractServer | None = None
        self._port = 0
        self._stopping = False
        self._stopped: asyncio.Event | None = None
        self._calls: dict[asyncio.Task[None], _Call] = {}
        self._counts = _Counters()
        self._seq = 0

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FastAGI server already started")
        self._stopping = False
        self._stopped = None
        self._server = await asyncio.start_server(
            self._accept, self._host, self._requested_port, limit=self._max_header_bytes)
        self._port = self._server.sockets[0].getsockname()[1]
        self._log.info("FastAGI server listening on %s:%d (scripts: %s)", self._host, self._port,
                       ", ".join(sorted(self._handlers)) or "-")

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return self._port

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def stats(self) -> ServerStats:
        c = self._counts
        return ServerStats(c.accepted, c.completed, c.hangups, c.failed, c.rejected_headers,
                           c.no_handler, c.drained, c.refused, c.refused_peers, c.refused_secret)

    async def stop(self, drain_timeout: float | None = None) -> None:
        """Stop accepting at once; let calls finish within the drain time; then send the
        rest to the dialplan fallback ("drain") and close them. No task is left running."""
        server = self._server
        if server is None:
            if self._stopped is not None:      # another stop() is draining: wait for it
                await self._stopped.wait()
            return
        self._server = None
        self._stopping = True
        self._stopped = asyncio.Event()
        server.close()
        try:
            await self._drain(server, drain_timeout)
        finally:
            self._stopped.set()
        self._log.info("FastAGI server stopped (%s)", self.stats)

    async def _drain(self, server: asyncio.AbstractServer, drain_timeout: float | None) -> None:
        limit = self._drain_timeout if drain_timeout is None else drain_timeout
        running = set(self._calls)
        if running:
            self._log.info("FastAGI drain: %d call(s) in progress, waiting up to %.1f s", len(running), limit)
            _, pending = await asyncio.wait(running, timeout=max(0.0, limit))
            if pending:
                self._log.warning("FastAGI drain: %d call(s) still running after %.1f s; "
                                  "sending them to the dialplan fallback", len(pending), limit)
                for task in pending:
                    call = self._calls.get(task)
                    if call is not None:
                        call.draining = True
                    task.cancel()
                _, stuck = await asyncio.wait(pending, timeout=_CANCEL_WAIT_S)
                for task in stuck:     # a handler that refuses to be cancelled: drop its socket
                    call = self._calls.get(task)
                    self._log.error("FastAGI call task %s ignored cancellation; connection dropped",
                                    task.get_name())
                    if call and call.session:
                        call.session.abort()
                    task.cancel()
        try:
            async with asyncio.timeout(0.2):
                await server.wait_closed()
        except TimeoutError:
            pass

    # ----------------------------------------------------------------- connections

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopping:
            self._counts.refused += 1
            writer.transport.abort()
            return
        peer = writer.get_extra_info("peername")
        if self._allowed and not self._peer_allowed(peer):
            self._counts.refused_peers += 1
            self._log.warning("FastAGI connection from %s refused: not an allowed peer",
                              peer[0] if isinstance(peer, tuple) else peer)
            writer.transport.abort()
            return
        self._counts.accepted += 1
        self._seq += 1
        call = _Call(peer=f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer))
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer, call),
                                                      name=f"fastagi-{self._seq}")
        self._calls[task] = call
        task.add_done_callback(self._finished)

    def _peer_allowed(self, peer: object) -> bool:
        try:
            addr = ipaddress.ip_address(peer[0] if isinstance(peer, tuple) else str(peer))
        except ValueError:
            return False
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self._allowed)

    def _script(self, env: AGIEnvironment) -> str | None:
        """The script to route by; None when the deployment's secret is missing or wrong."""
        script = env.network_script
        if self._secret is None:
            return script
        given, _, rest = script.partition("/")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            return None
        return rest.strip("/")

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._calls.pop(task, None)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:         # _serve handles everything; this is a bug in the server itself
            self._log.error("FastAGI connection task %s crashed", task.get_name(), exc_info=exc)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, call: _Call) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # one short line per command
            except OSError:
                pass
        try:
            env = await self._read_environment(reader)
        except AGIError as exc:
            self._counts.rejected_headers += 1
            self._log.warning("FastAGI connection from %s closed before any call: %s", call.peer, exc)
            writer.transport.abort()
            return
        except BaseException:
            writer.transport.abort()
            raise
        session = AGISession(reader, writer, env, command_timeout=self._command_timeout, log=self._log)
        call.session = session
        await self._run_call(session, call)

    async def _read_environment(self, reader: asyncio.StreamReader) -> AGIEnvironment:
        """The ``agi_*`` headers up to the empty line, within header_timeout and max_header_bytes.
        Each line is checked as it arrives, so junk is refused at its first line."""
        lines: list[str] = []
        total = 0
        try:
            async with asyncio.timeout(self._header_timeout):
                while True:
                    try:
                        raw = await reader.readuntil(b"\n")
                    except asyncio.IncompleteReadError as exc:
                        raise AGIProtocolError("header_eof", "connection closed in the headers",
                                               details={"bytes": total + len(exc.partial)}) from None
                    except asyncio.LimitOverrunError:
                        raise AGIProtocolError("header_line_too_long", f"a header line over {self._max_header_bytes} bytes",
                                               details={"limit": self._max_header_bytes}) from None
                    except OSError as exc:
                        raise AGIConnectionClosed(message=f"read failed in the headers: {exc}") from None
                    total += len(raw)
                    if total > self._max_header_bytes:
                        raise AGIProtocolError("header_too_large", f"headers over {self._max_header_bytes} bytes",
                                               details={"limit": self._max_header_bytes})
                    if raw in (b"\n", b"\r\n"):
                        break
                    try:
                        text = raw.decode("utf-8").rstrip("\r\n")
                    except UnicodeDecodeError:
                        raise AGIProtocolError("header_invalid_utf8", "a header line is not UTF-8",
                                               details={"line_no": len(lines) + 1}) from None
                    parse_header_line(text)
                    lines.append(text)
        except TimeoutError:
            raise AGITimeout("header_timeout", f"headers not complete within {self._header_timeout} s",
                             details={"bytes": total, "lines": len(lines)}) from None
        return parse_environment(lines)

    def _route(self, script: str) -> Handler | None:
        return self._handlers.get(script, self._default_handler)

    async def _run_call(self, session: AGISession, call: _Call) -> None:
        env = session.env
        script = self._script(env)
        if script is None:
            self._counts.refused_secret += 1
            self._log.warning("FastAGI connection from %s refused: no valid secret in the AGI URL", call.peer)
            await session.close(_DRAIN_CLOSE_GRACE_S)
            return
        who = f"call {env.uniqueid or '-'} from {mask_number(env.callerid)} (script {script!r})"
        handler = self._route(script)
        reason: str | None = None
        cancelled = False
        if handler is None:
            self._counts.no_handler += 1
            reason = REASON_NO_HANDLER
            self._log.warning("%s: no handler for this script; sending the call to the fallback", who)
        else:
            try:
                await handler(session)
            except AGIHangup as exc:
                self._counts.hangups += 1
                self._log.info("%s: caller hung up (%s)", who, exc.error_id)
            except asyncio.CancelledError:
                cancelled = True
                if call.draining:
                    reason = REASON_DRAIN
            except Exception:
                self._counts.failed += 1
                reason = REASON_ERROR
                self._log.exception("%s: handler failed; sending the call to the fallback", who)
            else:
                self._counts.completed += 1
                if call.draining:        # it swallowed the cancellation; make sure the call goes somewhere
                    reason = REASON_DRAIN
            if reason == REASON_DRAIN:
                self._counts.drained += 1
                self._log.warning("%s: still running at the end of the drain; sending the call to the fallback",
                                  who)
        quick = call.draining or cancelled
        try:
            if reason is not None and not session.closed:
                ok = await session.try_command(
                    "SET", "VARIABLE", quote_arg(contract.FALLBACK_REASON), quote_arg(reason),
                    reply_timeout=_DRAIN_FALLBACK_REPLY_S if quick else _FALLBACK_REPLY_S)
                if not ok:
                    self._log.info("%s: fallback reason %r not acknowledged by Asterisk (written if the socket was open)", who, reason)
        finally:
            await session.close(_DRAIN_CLOSE_GRACE_S if quick else _CLOSE_GRACE_S)
        if cancelled and not call.draining:
            raise asyncio.CancelledError
