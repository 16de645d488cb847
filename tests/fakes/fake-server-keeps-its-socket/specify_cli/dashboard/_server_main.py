"""FAKE spec-kitty dashboard server (see tests/fakes/README.md).

For a fault the real server cannot be made to show: a dashboard whose
listening socket outlives it. It binds the port it is given, hands an
inheritable copy of the socket to a helper that leaves for a session of its
own and becomes `sleep 300` (so nothing names it a dashboard), records both
pids in $FAKE_PIDFILE, and then answers /api/health as the real server does
(project and token). Stopping the dashboard cannot free the port: the helper
still holds it, and nothing may prove the helper is ours to signal.
"""

import http.server
import json
import os
import socket
import sys

project, port = sys.argv[1], int(sys.argv[2])
token = sys.argv[3] if len(sys.argv) > 3 else None

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port))
sock.listen(16)
os.set_inheritable(sock.fileno(), True)

holder = os.fork()
if holder == 0:
    os.setsid()
    os.execv("/bin/sleep", ["sleep", "300"])

with open(os.environ["FAKE_PIDFILE"], "a") as pids:
    pids.write(f"{os.getpid()}\n{holder}\n")


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


server = http.server.HTTPServer(("127.0.0.1", port), Health, bind_and_activate=False)
server.socket = sock
server.serve_forever()
