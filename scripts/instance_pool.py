"""Concurrent creators as Lambda runs them: N instances of one function, each a process
with its own Runtime API and its own counting hop to DynamoDB (dynamo_counter.py), each
serving one create at a time from one shared queue.

All instances finish init before the first create is handed out; then the clock runs
until the last create is answered. A create refused with 503 or 409 goes back to the
queue after a jittered 20 to 50 ms pause and is sent again, as a pipeline would send
it: its latency runs from its first attempt to its 201, and its requests add up over
every attempt (the same rules as `vtid-bench contention`).
"""

import collections
import json
import random
import subprocess
import threading
import time
import uuid

from api_events import draft, event
from dynamo_counter import Counter
from lambda_emulator import Runtime, Server, handler_for, lambda_env

RETRYABLE = (503, 409)


class Job:
    def __init__(self, n):
        self.n = n
        self.began = None
        self.requests = 0
        self.not_before = 0.0


class Queue:
    """The creates still to answer, shared by every instance."""

    def __init__(self, creates):
        self.cond = threading.Condition()
        self.waiting = collections.deque(Job(n) for n in range(creates))
        self.outstanding = creates
        self.gate = threading.Event()
        self.done = []  # (latency s, requests, vtid)
        self.refused = 0
        self.error = None
        self.last = None

    def take(self):
        """The next create to send, or None when all are answered; blocks until the
        gate opens and while only pauses are left."""
        self.gate.wait()
        with self.cond:
            while True:
                if self.error or self.outstanding == 0:
                    return None
                now = time.perf_counter()
                ready = next((j for j in self.waiting if j.not_before <= now), None)
                if ready is not None:
                    self.waiting.remove(ready)
                    if ready.began is None:
                        ready.began = now
                    return ready
                self.cond.wait(0.005)

    def answered(self, job, requests, answer, kind):
        with self.cond:
            job.requests += requests
            status = answer.get("statusCode") if kind == "response" else None
            if status == 201:
                self.last = time.perf_counter()
                vtid = json.loads(answer["body"])["vtid"]
                self.done.append((self.last - job.began, job.requests, vtid))
                self.outstanding -= 1
            elif status in RETRYABLE:
                self.refused += 1
                job.not_before = time.perf_counter() + random.uniform(0.02, 0.05)
                self.waiting.append(job)
            else:
                self.error = f"a create answered {kind} {status}: {json.dumps(answer)[:300]}"
            self.cond.notify_all()


class PooledRuntime(Runtime):
    """One instance's Runtime API: events come from the shared queue."""

    def __init__(self, queue, counter):
        super().__init__(counter.count)
        self.queue = queue
        self.jobs = {}

    def take_event(self):
        with self.lock:
            self.next_times.append(time.perf_counter())
        job = self.queue.take()
        if job is None:
            return None
        rid = str(uuid.uuid4())
        with self.lock:
            self.jobs[rid] = (job, self.count())
        return rid, event("POST", "/vtid/create", "POST /vtid/create", draft(job.n))

    def answer(self, rid, body, kind):
        with self.lock:
            job, before = self.jobs.pop(rid, (None, 0))
        if job is None:
            return
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        self.queue.answered(job, self.count() - before, answer, kind)


def run(command, env_base, upstream, creators, creates, log, extra_env=None):
    """`creates` creates from `creators` instances of `command` against `upstream`;
    returns (latencies s, requests per create, VTIDs, refused attempts, elapsed s)."""
    queue = Queue(creates)
    parts = []  # (server, counter, runtime)
    procs = []
    try:
        for _ in range(creators):
            counter = Counter(upstream)
            rt = PooledRuntime(queue, counter)
            rt.reset([])
            server = Server(("127.0.0.1", 0), handler_for(rt))
            threading.Thread(target=server.serve_forever, daemon=True).start()
            parts.append((server, counter, rt))
            env = lambda_env(env_base, server.server_address[1], "vtid-create")
            env.update(extra_env or {})
            env["AWS_ENDPOINT_URL_DYNAMODB"] = counter.url
            procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL))
        deadline = time.time() + 60
        while not all(rt.next_times for _, _, rt in parts):
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("an instance exited during init (see the log)")
            if time.time() > deadline:
                raise RuntimeError("the instances did not all finish init within 60 s")
            time.sleep(0.01)
        started = time.perf_counter()
        queue.gate.set()
        deadline = time.time() + 600
        while True:
            with queue.cond:
                if queue.error:
                    raise RuntimeError(queue.error)
                if queue.outstanding == 0:
                    break
                queue.cond.wait(0.1)
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("an instance exited (see the log)")
            if time.time() > deadline:
                raise RuntimeError(f"{queue.outstanding} creates unanswered after 600 s")
        elapsed = queue.last - started
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for server, counter, rt in parts:
            rt.stopped.set()
            server.shutdown()
            server.server_close()
            counter.close()
    lat = [d[0] for d in queue.done]
    req = [d[1] for d in queue.done]
    vtids = [d[2] for d in queue.done]
    return lat, req, vtids, queue.refused, elapsed
