#!/usr/bin/env python3
"""Serves the example over HTTP on 127.0.0.1, on a port the system picks.

Prints one line, {"port": N}, once it listens, so that whoever started it
(examples/django/e2e.ts) needs no fixed port and no guessing. A threaded
WSGI server: several requests at once share the middleware's key cache, as
they would behind gunicorn's threads.
"""
import json
import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        sys.stderr.write("django: " + (format % args) + "\n")


if __name__ == "__main__":
    application = get_wsgi_application()
    server = make_server("127.0.0.1", 0, application, server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    print(json.dumps({"port": server.server_port}), flush=True)
    server.serve_forever()
