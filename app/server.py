#!/usr/bin/env python3
"""Sample app for fleet deploys: tells which revision it runs and whether it is healthy.

Config comes from the environment (systemd EnvironmentFile or the deploy fallback):
  PORT (default 8080), BIND (default 0.0.0.0), HEALTH_FAIL=1 to fail /health,
  STARTUP_DELAY=<seconds> to start listening late (a slow boot, for deploy tests).
A file named HEALTH_FAIL next to this script also fails /health, so a broken
release can be committed to git and deployed like any other.
"""
import os
import sys
import time
import socketserver
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))


def revision():
    try:
        with open(os.path.join(HERE, "REVISION"), encoding="utf-8") as f:
            return f.read().strip() or "unknown"
    except OSError:
        return "unknown"


def healthy():
    if os.environ.get("HEALTH_FAIL", "") not in ("", "0"):
        return False, "HEALTH_FAIL is set in the environment"
    if os.path.exists(os.path.join(HERE, "HEALTH_FAIL")):
        return False, "this release carries a HEALTH_FAIL marker"
    return True, "ok"


def log(msg):
    # stdout goes to /var/log/<app>/app.log (systemd append: or the fallback's redirect),
    # which the deploy tails when a health check fails.
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {msg}", flush=True)


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = (body + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/":
            self._send(200, revision())
        elif self.path == "/health":
            ok, why = healthy()
            if not ok:
                log(f"health check failed: {why}")
            self._send(200 if ok else 500, why)
        else:
            self._send(404, "not found")

    def log_message(self, format, *args):
        log("%s %s" % (self.address_string(), format % args))


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer without the reverse DNS lookup HTTPServer.server_bind does (socket.getfqdn): where no
    resolver answers, that lookup alone held every start for its 5 s timeout, the whole of a 5 s health check."""

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port


def main():
    port = int(os.environ.get("PORT", "8080"))
    bind = os.environ.get("BIND", "0.0.0.0")
    time.sleep(float(os.environ.get("STARTUP_DELAY", "0")))
    server = Server((bind, port), Handler)
    log(f"revision {revision()} listening on {bind}:{port} pid {os.getpid()}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
