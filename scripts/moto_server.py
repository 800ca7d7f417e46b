"""moto in server mode, with one change: requests reach its backends one at a time.

moto's backends do not lock, so two concurrent conditional writes to one item can both pass
their condition check; DynamoDB never lets that happen. The concurrency tests (racing
creates, racing If-Match updates) need DynamoDB's atomicity, so every request runs under
one lock. Connections are still accepted concurrently.

usage: python moto_server.py PORT
"""
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class Serialized:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Materialise the response inside the lock: a lazy body would run the backend
            # after the lock is released.
            return list(self.app(environ, start_response))


def main() -> None:
    port = int(sys.argv[1])
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, Serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
