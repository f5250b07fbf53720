# A small web app for the platform's tests: answers every GET with who it
# is; behaves badly on request through its config (env) vars:
#   BROKEN=1     never listens on $PORT
#   CRASH=1      exits with status 1 at once
#   UNHEALTHY=1  /healthz answers 503
import os, socketserver, sys, time
import http.server

dyno = os.environ.get("DYNO", "?")
release = os.environ.get("DEIS_RELEASE", "?")

if os.environ.get("CRASH"):
    print("crashing at boot", flush=True)
    sys.exit(1)

if os.environ.get("BROKEN"):
    print("broken: not listening", flush=True)
    time.sleep(100000)
    sys.exit(1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/healthz" and os.environ.get("UNHEALTHY"):
            code, body = 503, b"unhealthy\n"
        elif self.path == "/ping":
            code, body = 200, b"pong\n"	# the same from every release
        else:
            code = 200
            body = ("hello from %s %s DEBUG=%s\n"
                    % (dyno, release, os.environ.get("DEBUG", ""))).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


print("listening on", os.environ["PORT"], flush=True)
Server(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
