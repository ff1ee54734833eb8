"""A threading HTTP server on 127.0.0.1 (port 0) for the fake sites the tests talk to (the Hub,
Civitai): started in a daemon thread, and stopped with its idle keep-alive connections closed too
(the clients' pooled sessions would otherwise hold a handler thread until their own timeout)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    """Serves ``handler`` on a free loopback port; ``url`` once :meth:`serve` has run."""

    def __init__(self) -> None:
        self.url = ""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def serve(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        owner = self

        class Tracked(handler):  # type: ignore[valid-type,misc]
            def setup(self):
                super().setup()
                with owner._connections_lock:
                    owner._connections.add(self.connection)

            def finish(self):
                with owner._connections_lock:
                    owner._connections.discard(self.connection)
                super().finish()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Tracked)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        self._server = self._thread = None
