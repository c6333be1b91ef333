"""The events function's input and targets, for lambda_emulator.py.

- Stream batches: DynamoDB stream records (INSERT, NEW_AND_OLD_IMAGES) as Lambda
  delivers them to `vtid-events`, made of record items that the benchmark's creates
  really wrote to the table (read back with one BatchGetItem), 10 to a batch.
- Sinks: one loopback HTTP server that is both the OASIS ingest URL (`POST /ingest`)
  and an EventBridge endpoint answering `PutEvents` (`AWS_ENDPOINT_URL_EVENTBRIDGE`),
  keeping the event ID (`VTID:version`) of everything it is sent, so that each batch's
  answer is checked against what really arrived.
"""

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

BATCH = 10


def record_items(endpoint, table, vtids):
    """The record items of `vtids`, in that order, as DynamoDB JSON (stream images)."""
    db = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    keys = [{"pk": {"S": v}, "sk": {"S": "RECORD"}} for v in dict.fromkeys(vtids)]
    found = {}
    for i in range(0, len(keys), 100):
        out = db.batch_get_item(RequestItems={table: {"Keys": keys[i : i + 100], "ConsistentRead": True}})
        for item in out["Responses"].get(table, []):
            found[item["pk"]["S"]] = item
        if out.get("UnprocessedKeys"):
            raise RuntimeError("stream_batch: moto left keys unprocessed")
    return [found[k["pk"]["S"]] for k in keys if k["pk"]["S"] in found]


def stream_batch(items, first_seq):
    """One stream event: an INSERT record per item, sequence numbers from `first_seq`."""
    records = []
    for i, item in enumerate(items):
        seq = first_seq + i
        records.append(
            {
                "eventID": f"bench-{seq}",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_790_000_000 + seq,
                    "Keys": {"pk": item["pk"], "sk": item["sk"]},
                    "NewImage": item,
                    "SequenceNumber": f"{seq:021}",
                    "SizeBytes": len(json.dumps(item)),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/vtid/stream/bench",
            }
        )
    return {"Records": records}


class Sinks:
    """OASIS and EventBridge on one loopback port; `seen[sink]` holds the event IDs."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {"oasis": [], "eventbridge": []}
        sinks = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK wait

            def log_message(self, *args):
                pass

            def answer(self, status, body, content_type="application/json"):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                if self.path == "/ingest":
                    sinks.note("oasis", [body["metadata"]["eventId"]])
                    return self.answer(200, {"ok": True})
                if self.headers.get("X-Amz-Target") == "AWSEvents.PutEvents":
                    entries = body.get("Entries", [])
                    sinks.note("eventbridge", [json.loads(e["Detail"])["metadata"]["eventId"] for e in entries])
                    return self.answer(
                        200,
                        {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in entries]},
                        "application/x-amz-json-1.1",
                    )
                self.answer(404, {"message": f"no such sink: {self.path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def note(self, sink, ids):
        with self.lock:
            self.seen[sink].extend(ids)

    def reset(self):
        with self.lock:
            self.seen = {"oasis": [], "eventbridge": []}

    def env(self):
        return {
            "OASIS_INGEST_URL": f"{self.url}/ingest",
            "AWS_ENDPOINT_URL_EVENTBRIDGE": self.url,
            "VTID_EVENT_BUS": "vtid-bench",
        }

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def delivered(self, event):
        """What is wrong with the answer to `event` (None when nothing): every record's
        event must have reached both sinks, and no item be reported as failed."""

        def check(answer):
            failures = answer.get("batchItemFailures")
            if failures != []:
                return f"reported batch item failures {failures}"
            want = set()
            for r in event["Records"]:
                doc = json.loads(r["dynamodb"]["NewImage"]["doc"]["S"])
                want.add(f"{doc['vtid']}:{doc['version']}")
            with self.lock:
                missing = {s: sorted(want - set(ids)) for s, ids in self.seen.items() if want - set(ids)}
            return f"events never delivered: {missing}" if missing else None

        return check

    def events(self, items):
        """The two batches of one cold start (the next 10 items after the first 10, when
        there are that many), each with its check; the sinks start empty."""
        self.reset()
        first, second = items[:BATCH], items[BATCH : 2 * BATCH] or items[:BATCH]
        batches = [stream_batch(first, 1), stream_batch(second, 1 + BATCH)]
        return [(b, self.delivered(b)) for b in batches]
