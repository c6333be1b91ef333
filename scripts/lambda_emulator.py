"""A minimal local Lambda Runtime API, to measure each function's cold start.

For every function it starts the release binary as Lambda would (AWS_LAMBDA_RUNTIME_API
and the other variables of the Lambda environment set), serves it two API Gateway
HTTP API (v2) events (api_events.py) through GET /2018-06-01/runtime/invocation/next and
takes each response from POST .../invocation/{id}/response, then stops it. `vtid-events`
is served two DynamoDB stream batches of 10 records instead (stream_batch.py: records the
creates above wrote), with an OASIS sink and an EventBridge endpoint on loopback that
must receive every event of the batch. It reports:

  init     from starting the process to its first GET .../next (what Lambda bills as
           Init Duration: runtime start, SDK client, configuration),
  first    the first invocation (its DynamoDB connection is opened here),
  warm     the second invocation,
  peak     the process's peak resident memory (VmHWM), read after the second response.

Every function talks to the DynamoDB endpoint given (moto's server in scripts/bench).
`run_once` is also what scripts/bench_compare.py starts any command with (the Node.js
handler's bootstrap), optionally counting each invocation's DynamoDB requests.

Usage: lambda_emulator.py --bin-dir DIR --endpoint URL --table NAME [--runs N] [--json FILE]
                          [--wrapper "qemu-aarch64 -L /usr/aarch64-linux-gnu"]

--bin-dir holds one executable per function, named as its binary (vtid-create, ...).
--wrapper runs each through another program: with qemu-user, the arm64 bootstraps of
.aws-sam/build answer real requests here (a functional check; emulated timings mean nothing).
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from api_events import events_for
from stream_batch import Sinks, record_items

PREFIX = "/2018-06-01/runtime"


class Runtime:
    """The state of one function run, shared with the HTTP handler threads."""

    def __init__(self, count=lambda: 0):
        self.lock = threading.Lock()
        # DynamoDB requests the function has sent so far (dynamo_counter.py), read at
        # every `next` and every answer to split them by invocation.
        self.count = count
        self.reset([])

    def reset(self, events):
        with self.lock:
            self.events = list(events)
            self.next_times = []
            self.next_counts = []
            self.responses = []  # (time, request id, body bytes, kind)
            self.answer_counts = []
            self.answered = threading.Event()
            self.stopped = threading.Event()
            self.pending = {}
            self.seen = []  # (seconds since reset, method, path): for diagnosing a hang
            self.t0 = time.perf_counter()

    def take_event(self):
        with self.lock:
            self.next_times.append(time.perf_counter())
            self.next_counts.append(self.count())
            if not self.events:
                return None
            ev = self.events.pop(0)
            rid = str(uuid.uuid4())
            self.pending[rid] = ev
            return rid, ev

    def answer(self, rid, body, kind):
        with self.lock:
            self.responses.append((time.perf_counter(), rid, body, kind))
            self.answer_counts.append(self.count())
            self.answered.set()


def handler_for(rt):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK wait

        def log_message(self, *args):
            pass

        def reply(self, status, body=b"", headers=None):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            rt.seen.append((round(time.perf_counter() - rt.t0, 3), "GET", self.path))
            if self.path != PREFIX + "/invocation/next":
                return self.reply(404, b'{"errorMessage":"not found"}')
            taken = rt.take_event()
            if taken is None:
                # No more events: hold the call, as Lambda freezes an idle function.
                rt.stopped.wait(60)
                return
            rid, ev = taken
            deadline = int(time.time() * 1000) + 30_000
            self.reply(
                200,
                json.dumps(ev).encode(),
                {
                    "Lambda-Runtime-Aws-Request-Id": rid,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:000000000000:function:bench",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                },
            )

        def do_POST(self):
            rt.seen.append((round(time.perf_counter() - rt.t0, 3), "POST", self.path))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = self.path[len(PREFIX):].strip("/").split("/")
            if parts[:1] == ["invocation"] and len(parts) == 3 and parts[2] in ("response", "error"):
                rt.answer(parts[1], body, parts[2])
                return self.reply(202, b'{"status":"OK"}')
            if parts == ["init", "error"]:
                rt.answer(None, body, "init-error")
                return self.reply(202, b'{"status":"OK"}')
            self.reply(404, b'{"errorMessage":"not found"}')

    return Handler


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A stopped function leaves its held `next` call unanswered: expected.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def run_once(command, binary, env_base, events, log, count=lambda: 0):
    """One cold start of `command` (a list: the program and its arguments) serving
    `events`, each a pair (event, want): `want` is the status an API Gateway answer must
    have, or a function of the answer that returns what is wrong with it (or None)."""
    # A Runtime API of its own for every run: a request still in flight from the last
    # (stopped) process can never take this run's events.
    rt = Runtime(count)
    rt.reset([e for e, _ in events])
    server = Server(("127.0.0.1", 0), handler_for(rt))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        return measure(rt, port, command, binary, env_base, events, log)
    finally:
        server.shutdown()
        server.server_close()


def problem_with(answer, want):
    if callable(want):
        return want(answer)
    status = answer.get("statusCode")
    return None if status == want else f"answered {status}, expected {want}"


def lambda_env(env_base, port, binary):
    """The variables Lambda sets for a function, over `env_base`."""
    env = dict(env_base)
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": binary,
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{binary}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        }
    )
    return env


def measure(rt, port, command, binary, env_base, events, log):
    env = lambda_env(env_base, port, binary)
    before = rt.count()
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        for i in range(len(events)):
            deadline = time.time() + 30
            while len(rt.responses) <= i:
                if proc.poll() is not None:
                    raise RuntimeError(f"{binary} exited with {proc.returncode} (see the log)")
                if time.time() > deadline:
                    raise RuntimeError(f"{binary} gave no response within 30 s; runtime API calls: {rt.seen}")
                rt.answered.wait(0.05)
                rt.answered.clear()
        peak = peak_rss_kib(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        rt.stopped.set()
    results = []
    for i, (t, _rid, body, kind) in enumerate(rt.responses[: len(events)]):
        if kind != "response":
            raise RuntimeError(f"{binary}: {kind}: {body[:300]!r}")
        answer = json.loads(body)
        problem = problem_with(answer, events[i][1])
        if problem:
            raise RuntimeError(f"{binary}: {problem}: {body[:300]!r}")
        results.append((t, answer))
    nexts, counts, answered = rt.next_times, rt.next_counts, rt.answer_counts
    return {
        "init_ms": (nexts[0] - start) * 1000,
        "first_ms": (results[0][0] - nexts[0]) * 1000,
        "warm_ms": (results[1][0] - nexts[1]) * 1000,
        "peak_mib": (peak or 0) / 1024,
        "first_body": results[0][1],
        "bodies": [a for _, a in results],
        # DynamoDB requests during init, the first and the warm invocation.
        "requests": [counts[0] - before, answered[0] - counts[0], answered[1] - counts[1]],
    }


BINARIES = [
    "vtid-create",
    "vtid-batch",
    "vtid-get",
    "vtid-head",
    "vtid-update",
    "vtid-list",
    "vtid-history",
    "vtid-health",
    "vtid-audit",
    "vtid-fallback",
    # Last: its stream batches are made of the records the functions above created.
    "vtid-events",
]


def env_base(endpoint, table, memory_mb="256"):
    """The environment Lambda gives every function, less what each run adds."""
    home = tempfile.mkdtemp(prefix="vtid-lambda-home-")
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory_mb,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "_HANDLER": "bootstrap",
        "VTID_TABLE": table,
        "VTID_CURSOR_SECRET": "benchmark-cursor-secret-0123456789abcdef",
    }


def created_vtids(binary, run):
    """The VTIDs a create or batch run's answers carry (the events' records)."""
    if binary not in ("vtid-create", "vtid-batch"):
        return []
    out = []
    for answer in run["bodies"]:
        body = json.loads(answer["body"])
        data = body["data"] if isinstance(body["data"], list) else [body["data"]]
        out.extend(r["vtid"] for r in data)
    return out


def cold_starts(name, command, env, events_fn, runs, log, log_path, count=lambda: 0):
    """`runs` cold starts of `command`, each serving the events `events_fn()` gives; on a
    failure prints the end of the functions' log and exits."""
    out = []
    for _ in range(runs):
        try:
            out.append(run_once(command, name, env, events_fn(), log, count))
        except RuntimeError as e:
            log.flush()
            with open(log_path, "rb") as f:
                tail = f.read()[-3000:].decode(errors="replace")
            print(f"lambda_emulator: {e}\n--- function log ---\n{tail}", file=sys.stderr)
            sys.exit(1)
    return out


def summary(name, runs):
    return {
        "function": name,
        "init_ms_median": statistics.median(r["init_ms"] for r in runs),
        "init_ms_min": min(r["init_ms"] for r in runs),
        "init_ms_max": max(r["init_ms"] for r in runs),
        "first_ms_median": statistics.median(r["first_ms"] for r in runs),
        "warm_ms_median": statistics.median(r["warm_ms"] for r in runs),
        "peak_mib_max": max(r["peak_mib"] for r in runs),
        "runs": len(runs),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--memory-mb", default="256")
    ap.add_argument("--json")
    ap.add_argument("--wrapper", default="")
    args = ap.parse_args()
    wrapper = shlex.split(args.wrapper)

    env = env_base(args.endpoint, args.table, args.memory_mb)
    log_path = os.path.join(env["HOME"], "functions.log")
    rows = []
    vtids = []
    year = time.strftime("%Y", time.gmtime())
    sinks = Sinks()
    with open(log_path, "wb") as log:
        for binary in BINARIES:
            path = os.path.join(args.bin_dir, binary)
            if not os.path.exists(path):
                print(f"lambda_emulator: {path} is missing", file=sys.stderr)
                sys.exit(1)
            if binary == "vtid-events":
                items = record_items(args.endpoint, args.table, vtids)
                runs = cold_starts(
                    binary, [*wrapper, path], {**env, **sinks.env()},
                    lambda: sinks.events(items), args.runs, log, log_path,
                )
            else:
                runs = cold_starts(
                    binary, [*wrapper, path], env,
                    lambda: events_for(binary, vtids[0] if vtids else "VTID-2026-0001", year),
                    args.runs, log, log_path,
                )
            for r in runs:
                vtids.extend(created_vtids(binary, r))
            rows.append(summary(binary, runs))
    sinks.close()
    print(
        "| function | init, median (min–max) ms | first invocation, median ms | warm invocation, median ms | peak memory (VmHWM) MiB |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['function']} | {r['init_ms_median']:.1f} ({r['init_ms_min']:.1f}–{r['init_ms_max']:.1f}) "
            f"| {r['first_ms_median']:.1f} | {r['warm_ms_median']:.1f} | {r['peak_mib_max']:.1f} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
