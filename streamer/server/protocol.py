"""uvicorn's httptools protocol, with one addition: a response may abort its connection.

uvicorn closes a connection whose response did not complete with ``transport.close()``,
which waits for the write buffer to drain: for a client that stopped reading, that is
until TCP gives up, minutes later, with an ERROR in the log. This subclass puts the
transport's ``abort`` in each request's scope (``ABORT_EXTENSION``), so the response
class can drop a stalled or truncated stream at once (the kernel sends a reset) and log
one warning itself. Tested against uvicorn's version range in pyproject.toml.
"""

from __future__ import annotations

import socket
import struct

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from streamer.web.responses import ABORT_EXTENSION

RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset and frees the socket


class StreamerHttpToolsProtocol(HttpToolsProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {**self.scope.get("extensions", {}), ABORT_EXTENSION: {"abort": self.abort}}

    def abort(self) -> None:
        """Drop the connection: unsent data is discarded by the kernel too (else FIN_WAIT1 keeps it for minutes)."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
            except OSError:  # already closed
                pass
        self.transport.abort()
