"""moto's DynamoDB on loopback, one request at a time.

moto's own `moto_server` serves requests on threads and its backend takes no locks, so
two conditional writes can both win and ADD can hand out one value twice. Serving one
request at a time makes each request atomic, as a DynamoDB item write is.

Usage: moto_server.py PORT_FILE  -- binds a free loopback port and writes it to PORT_FILE.
"""

import os
import sys

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def main() -> None:
    port_file = sys.argv[1]
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=False, processes=1)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_port))
    os.replace(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
