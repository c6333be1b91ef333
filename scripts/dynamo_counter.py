"""A counting hop between one function instance and its DynamoDB endpoint.

The benchmark compares a Rust function with a Node.js handler; neither should have to
count its own requests, and both must be counted the same way. Each instance's
`AWS_ENDPOINT_URL_DYNAMODB` points at a Counter of its own, which forwards every request
unchanged to the real endpoint (moto, or the fault proxy in front of it) and counts it;
an instance serves one invocation at a time, so the count read when an event is handed
out and again when its answer comes back is that invocation's requests, the SDK's
retries included. Every request pays one more loopback hop in both implementations.
"""

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Hop-by-hop headers, which a forwarder must not pass on.
HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class Counter:
    def __init__(self, upstream):
        target = urlsplit(upstream)
        host, port = target.hostname, target.port or 80
        self.lock = threading.Lock()
        self.requests = 0
        counter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The answer's headers and body go out in two writes: with Nagle's algorithm
            # the body waits for the client's delayed ACK (40 ms on Linux) on every request.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                counter.bump()
                # One upstream connection per client connection: the same reuse the SDK sees.
                if getattr(self, "upstream", None) is None:
                    self.upstream = http.client.HTTPConnection(host, port, timeout=60)
                    self.upstream.connect()
                    self.upstream.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                try:
                    self.upstream.request("POST", self.path, body, headers)
                    res = self.upstream.getresponse()
                    data = res.read()
                except (OSError, http.client.HTTPException):
                    # The upstream dropped the answer: the client sees the same.
                    self.upstream.close()
                    self.upstream = None
                    self.close_connection = True
                    return
                self.send_response(res.status, res.reason)
                for k, v in res.getheaders():
                    if k.lower() not in HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def bump(self):
        with self.lock:
            self.requests += 1

    def count(self):
        with self.lock:
            return self.requests

    def close(self):
        self.server.shutdown()
        self.server.server_close()
