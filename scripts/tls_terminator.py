"""A TLS terminator on loopback, in front of moto's plain-HTTP DynamoDB (scripts/bench-cold).

Lambda reaches DynamoDB over TLS, on a connection it keeps alive; moto speaks plain
HTTP/1.0 and closes every connection after its answer. This serves HTTPS (HTTP/1.1,
keep-alive) on a free loopback port with the certificate chain given (leaf, then
intermediate) and passes each request on to moto over a new plain connection, and the
answer back: the function's TLS handshake, record layer and certificate verification are
real, and its connection stays open across invocations as it would to DynamoDB; the
store behind it is moto.

It also serves the same proxy in plain HTTP on a second port, so that a run over TLS and a
run without differ by TLS alone (both keep their connection alive).

It runs outside the CPU quota of the function measured, like the network and DynamoDB on
Lambda. Python's ssl offers TLS 1.2 and 1.3; the SDKs negotiate 1.3, as with DynamoDB.

Usage: tls_terminator.py PORT_FILE UPSTREAM_HOST:PORT CHAIN_PEM KEY_PEM
Binds two free loopback ports and writes "TLS_PORT PLAIN_PORT" to PORT_FILE.
"""

import http.client
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Hop-by-hop headers: this proxy sets its own framing.
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


def handler_for(upstream_host, upstream_port):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            conn = http.client.HTTPConnection(upstream_host, upstream_port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                res = conn.getresponse()
                data = res.read()
                status, reason, out = res.status, res.reason, res.getheaders()
            except OSError as e:
                status, reason, out, data = 502, "Bad Gateway", [], str(e).encode()
            finally:
                conn.close()
            self.send_response(status, reason)
            for k, v in out:
                if k.lower() not in HOP and k.lower() not in ("server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET = do_PUT = do_DELETE = do_HEAD = forward

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    context = None

    def finish_request(self, request, client_address):
        # The handshake runs on the connection's own thread, not the accept loop.
        if self.context is not None:
            try:
                request = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ssl.SSLError)):
            super().handle_error(request, client_address)


def main():
    port_file, upstream, chain, key = sys.argv[1:5]
    host, port = upstream.rsplit(":", 1)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(chain, key)
    handler = handler_for(host, int(port))
    tls = Server(("127.0.0.1", 0), handler)
    tls.context = ctx
    plain = Server(("127.0.0.1", 0), handler)
    for s in (tls, plain):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{tls.server_address[1]} {plain.server_address[1]}\n")
    os.replace(tmp, port_file)
    threading.Event().wait()


if __name__ == "__main__":
    main()
