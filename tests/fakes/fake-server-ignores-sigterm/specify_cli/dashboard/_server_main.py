"""FAKE spec-kitty dashboard server (see tests/fakes/README.md).

For a fault the real server cannot be made to show on purpose: a dashboard
that ignores SIGTERM, so that stopping it takes the whole grace period before
the SIGKILL. It binds the port it is given, appends its pid to $FAKE_PIDFILE,
and answers /api/health as the real server does (project and token). Each
SIGTERM it gets appends a line "TERM <pid>" to $FAKE_TERMFILE (when set) and
is otherwise ignored.
"""

import http.server
import json
import os
import signal
import sys

project, port = sys.argv[1], int(sys.argv[2])
token = sys.argv[3] if len(sys.argv) > 3 else None


def on_term(_signo, _frame):
    termfile = os.environ.get("FAKE_TERMFILE")
    if termfile:
        with open(termfile, "a") as f:
            f.write(f"TERM {os.getpid()}\n")


signal.signal(signal.SIGTERM, on_term)


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "project_path": project, "token": token}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", port), Health)
with open(os.environ["FAKE_PIDFILE"], "a") as pids:
    pids.write(f"{os.getpid()}\n")
server.serve_forever(poll_interval=0.05)
