"""How the server holds connections: the uvicorn settings it runs with, plus the clocks uvicorn lacks.

uvicorn closes a kept-alive connection that stays idle ``timeout_keep_alive`` seconds after a
response, and nothing else: a connection that never sends a byte, or sends its request a byte at a
time, stays open for ever, and a few hundred of those use up the server's file descriptors.
:class:`TimedH11Protocol` adds two clocks to uvicorn's h11 protocol:

- a fresh connection is idle like a kept-alive one: closed after ``keep_alive_timeout`` seconds
  without a byte;
- once a request's first byte is in, its head must arrive within ``read_timeout`` seconds, and so
  must the rest of a body the app answered without reading. While the app runs, the app bounds the
  body itself (``read_body`` answers 408), since only it can still answer.

Both the ``posttrain serve`` command and the tests start uvicorn through :func:`server_config`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    from posttrain.serve.config import ServeConfig

log = logging.getLogger("posttrain.serve")


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with an idle clock from the first moment and a clock on reading requests."""

    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout
        self.read_clock: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn starts this clock only after a response; the first byte stops it (in data_received)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._wind_read_clock()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._wind_read_clock()  # a body left unread, or half of a pipelined request, is nobody's now

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_read_clock()
        super().connection_lost(exc)

    def _reading_unowned(self) -> bool:
        """Part of a request is in, the rest is not, and no running app will time it out."""
        state = self.conn.their_state
        if state is h11.IDLE:
            return bool(self.conn.trailing_data[0])  # part of a request head
        if state is h11.SEND_BODY:
            return self.cycle is None or self.cycle.response_complete
        return False

    def _wind_read_clock(self) -> None:
        if not self._reading_unowned():
            self._stop_read_clock()
        elif self.read_clock is None:  # started at the request's first byte, not pushed back by later ones
            self.read_clock = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _stop_read_clock(self) -> None:
        if self.read_clock is not None:
            self.read_clock.cancel()
            self.read_clock = None

    def _read_timed_out(self) -> None:
        self.read_clock = None
        if self._reading_unowned() and not self.transport.is_closing():
            log.info("connection closed: status=408 (no complete request within %g seconds)", self.read_timeout)
            self.transport.close()


def server_config(app, config: ServeConfig, **overrides: Any) -> uvicorn.Config:
    """The uvicorn settings of ``config``: its address, the timed h11 protocol and no access log
    (the app logs each request once, without its content)."""
    settings: dict[str, Any] = {
        "host": config.host, "port": config.port, "log_level": "warning", "access_log": False,
        "http": functools.partial(TimedH11Protocol, read_timeout=config.read_timeout),
        "timeout_keep_alive": config.keep_alive_timeout,
    }
    return uvicorn.Config(app, **(settings | overrides))
