"""moto's DynamoDB on loopback, one request at a time.

moto's own `moto_server` serves requests on threads and its backend takes no locks, so
two conditional writes can both win and ADD can hand out one value twice. Serving one
request at a time makes each request atomic, as a DynamoDB item write is.

moto also keeps every model object it ever made in a list for its web dashboard
(`model_data`), and a transaction deep-copies the whole table (with its stream records)
for each of its items: left alone the server keeps every copy and grows by gigabytes
over a test run. The dashboard is not used here, so those lists are emptied after each
request (moto's own `reset_model_data`, which touches no table).

Those copies include the table's stream records, which only grow, so a transaction gets
slower with every write ever made (0.3 s after 600 of them). No test reads moto's stream
(the events function is tested with the stream records it is handed), so the server keeps
none: the table still has its stream settings, as `template.yaml` declares them.

A transaction's backup also copies each table once per item it names (a batch of 50
copied the table 52 times); one copy per table and request is the same backup, as no
item is applied before all copies are made.

Usage: moto_server.py PORT_FILE  -- binds a free loopback port and writes it to PORT_FILE.
"""

import os
import sys

import copy
import types

import moto.dynamodb.models as dynamodb_models
from moto.core.model_instances import reset_model_data
from moto.dynamodb.models.table import StreamShard, Table
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


StreamShard.add = lambda self, old, new: None

# Table copies made during the current request, by table identity.
_table_copies = {}


def _deepcopy(obj, memo=None):
    if isinstance(obj, Table):
        kept = _table_copies.get(id(obj))
        if kept is None or kept[0] is not obj:
            kept = (obj, copy.deepcopy(obj, memo))
            _table_copies[id(obj)] = kept
        return kept[1]
    return copy.deepcopy(obj, memo)


# Only the DynamoDB models module sees this `copy`; everything else keeps the real one.
dynamodb_models.copy = types.SimpleNamespace(deepcopy=_deepcopy, copy=copy.copy)


def forgetting(app):
    def wrapped(environ, start_response):
        try:
            return app(environ, start_response)
        finally:
            _table_copies.clear()
            reset_model_data()

    return wrapped


def main() -> None:
    port_file = sys.argv[1]
    app = forgetting(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=False, processes=1)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_port))
    os.replace(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
