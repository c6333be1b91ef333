"""Cold starts as Lambda runs them: over TLS, under each memory size's CPU share.

Run by scripts/bench-cold, which makes the test CA, starts moto and the TLS terminator
(tls_terminator.py) and builds the release `vtid-create`. This starts the Rust
`vtid-create` and the Node.js 20 handler of bench/node (its esbuild bundle, as deployed)
on the local Runtime API of lambda_emulator.py, each in a cgroup (v1 `cpu` controller)
whose CFS quota is Lambda's CPU share at a memory size: memory / 1,769 MB of one vCPU
(1,769 MB is one full vCPU, CPU proportional to memory). Every run serves two creates
(the first cold, the second warm) and reports:

  init            the exec of the function (once the wrapper is in its cgroup) to the
                  first GET .../invocation/next (Init Duration),
  first response  init plus the first create: what the first caller waits for beyond the
                  platform, the TLS handshake to the store included,
  warm create     the second create, on the connection the first opened,
  CPU time        of init, the first and the warm create (cgroup v1 `cpuacct`).

Modes, each at every size (--modes):
  share      the whole process at the share (Lambda's documented model);
  init-full  init unthrottled and the invocations at the share: the quota is set when the
             process first asks for an invocation (Lambda's init phase may get more CPU
             than the memory share; AWS does not say);
  plain      as `share`, through the same proxy in plain HTTP: `share` minus `plain` is
             what TLS costs.

The runs are interleaved (run 1 of every mode, size and runtime, then run 2, ...) so that
drift of the machine falls on all alike; before them one uncounted run per runtime, at
full CPU, creates the year's counter. Prints markdown, and every run to --json.

Usage: bench_cold.py --bin-dir DIR --node-dir DIR --tls URL --plain URL --moto URL
                     --ca-file PEM [--runs 7] [--sizes 128,256,512,1024,1769]
                     [--period-us 20000] [--modes share,init-full,plain] [--json FILE]
Needs root (it writes /sys/fs/cgroup/cpu).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

from api_events import events_for
from lambda_emulator import Runtime, Server, env_base, handler_for, measure

CGROUP_ROOT = "/sys/fs/cgroup/cpu"
CPUACCT_ROOT = "/sys/fs/cgroup/cpuacct"
ONE_VCPU_MB = 1769
RUST, NODE, VARIANT = "rust", "node", "variant"
NAMES = {RUST: "Rust", NODE: "Node.js 20"}
MODES = {
    "share": "over TLS, the whole process at the memory's CPU share",
    "init-full": "over TLS, init at full CPU, the invocations at the share",
    "plain": "plain HTTP through the same proxy, the whole process at the share",
}


class Cgroup:
    """A child of the cgroup v1 `cpu` controller, with its CFS period and quota."""

    def __init__(self, period_us):
        self.path = os.path.join(CGROUP_ROOT, f"vtid-bench-cold-{os.getpid()}")
        os.makedirs(self.path, exist_ok=True)
        # The cpuacct controller (mounted apart here) counts the CPU time the process uses.
        self.acct = os.path.join(CPUACCT_ROOT, f"vtid-bench-cold-{os.getpid()}")
        os.makedirs(self.acct, exist_ok=True)
        self.period_us = period_us
        # A high weight: on a machine busy with other work the function still gets its
        # share as soon as it can run (Lambda reserves it); the quota caps it.
        self.write("cpu.shares", 10240)
        self.write("cpu.cfs_quota_us", -1)
        self.write("cpu.cfs_period_us", period_us)

    def write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(str(value))

    def quota_for(self, mb):
        # The kernel's least quota is 1 ms: at 128 MB the period must be at least 14 ms.
        return max(1000, round(self.period_us * mb / ONE_VCPU_MB))

    def limit(self, mb):
        self.write("cpu.cfs_quota_us", self.quota_for(mb) if mb else -1)

    def wrap(self, command, ready, go):
        """`command`, started in this cgroup: the shell moves itself in, says so on the
        FIFO `ready`, waits for a line on the FIFO `go`, then execs. Moving a process into
        a cgroup (v1) waits for an RCU grace period, 10 to 20 ms here: the harness's
        time, not the function's, so init is timed from the line on `go` (see run_once)
        and counts the exec and all that follows, as Lambda's init does."""
        procs = os.path.join(self.path, "cgroup.procs")
        acct = os.path.join(self.acct, "cgroup.procs")
        script = 'echo $$ > "$0" && echo $$ > "$1" && echo ready > "$2" && read -r line < "$3" && shift 3 && exec "$@"'
        return ["/bin/sh", "-c", script, procs, acct, ready, go, *command]

    def reset_usage(self):
        with open(os.path.join(self.acct, "cpuacct.usage"), "w") as f:
            f.write("0")

    def usage_ms(self):
        """CPU time the processes in the cgroup used since `reset_usage`, ms."""
        with open(os.path.join(self.acct, "cpuacct.usage")) as f:
            return int(f.read()) / 1e6

    def remove(self):
        for path in (self.path, self.acct):
            try:
                if path == self.path:
                    self.write("cpu.cfs_quota_us", -1)
                os.rmdir(path)
            except OSError as e:
                print(f"bench_cold: could not remove {path}: {e}", file=sys.stderr)


class HookedRuntime(Runtime):
    """The emulator's Runtime API state, calling `on_init` when init ends: at the first
    GET .../next, after its time is taken and before the event is handed over. It also
    reads the CPU time used so far at every `next` and every answer."""

    def __init__(self, on_init, usage):
        super().__init__()
        self.on_init = on_init
        self.usage = usage
        self.fired = False
        self.cpu_next, self.cpu_answer = [], []

    def take_event(self):
        self.cpu_next.append(self.usage())
        taken = super().take_event()
        if not self.fired:
            self.fired = True
            self.on_init()
        return taken

    def answer(self, rid, body, kind):
        self.cpu_answer.append(self.usage())
        super().answer(rid, body, kind)


def run_once(command, name, env, events, log, on_init, cg, fifos):
    rt = HookedRuntime(on_init, cg.usage_ms)
    rt.reset([e for e, _ in events])
    server = Server(("127.0.0.1", 0), handler_for(rt))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cg.reset_usage()
    started = []

    def release():
        # Blocks until the shell is in the cgroup, then lets it exec, timing that moment.
        with open(fifos[0]) as f:
            f.readline()
        with open(fifos[1], "w") as f:
            started.append(time.perf_counter())
            f.write("go\n")

    threading.Thread(target=release, daemon=True).start()
    try:
        r = measure(rt, server.server_address[1], cg.wrap(command, *fifos), name, env, events, log)
    finally:
        server.shutdown()
        server.server_close()
    if not started:
        raise RuntimeError(f"{name}: the wrapper never reached the cgroup")
    r["init_ms_with_attach"] = r["init_ms"]
    r["init_ms"] = (rt.next_times[0] - started[0]) * 1000
    # CPU time of init, of the first (cold) and of the warm invocation.
    n, a = rt.cpu_next, rt.cpu_answer
    r["cpu_ms"] = [n[0], a[0] - n[0], a[1] - n[1]]
    return r


def cpu_stat(cg):
    with open(os.path.join(cg.path, "cpu.stat")) as f:
        return dict((k, int(v)) for k, v in (line.split() for line in f))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--node-dir", required=True)
    ap.add_argument("--tls", required=True, help="the TLS terminator's https:// URL")
    ap.add_argument("--plain", required=True, help="the same proxy's http:// URL")
    ap.add_argument("--moto", required=True, help="moto's own URL, to create the tables")
    ap.add_argument("--ca-file", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--sizes", default="128,256,512,1024,1769")
    ap.add_argument("--modes", default="share,init-full,plain")
    ap.add_argument("--period-us", type=int, default=20000)
    ap.add_argument("--runtimes", default="rust,node", help="for trials: which of rust,node to run")
    ap.add_argument("--variant-dir", help="another build of vtid-create to run beside the others")
    ap.add_argument("--variant-name", default="Rust variant")
    ap.add_argument("--table", default="vtid-cold")
    ap.add_argument("--json")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    node_dir = os.path.abspath(args.node_dir)
    impls = {
        RUST: ([os.path.join(args.bin_dir, "vtid-create")], {}),
        NODE: (
            [os.path.join(node_dir, "runtime", "bootstrap")],
            {"LAMBDA_TASK_ROOT": node_dir, "_HANDLER": "dist/handler.handler"},
        ),
    }
    impls = {k: v for k, v in impls.items() if k in args.runtimes.split(",")}
    if args.variant_dir:
        impls[VARIANT] = ([os.path.join(args.variant_dir, "vtid-create")], {})
        NAMES[VARIANT] = args.variant_name
    year = time.strftime("%Y", time.gmtime())

    cg = Cgroup(args.period_us)
    homes = []
    try:
        envs = {}
        for key, (_, extra) in impls.items():
            table = f"{args.table}-{key}"
            subprocess.run(
                [os.path.join(args.bin_dir, "vtid-bench"), "create-table", "--endpoint", args.moto, "--table", table],
                check=True,
            )
            base = env_base(args.tls, table)
            homes.append(base["HOME"])
            tls = {
                **base,
                **extra,
                # Bench settings only: the test CA of this run (shared/src/sdk.rs; Node's own).
                "VTID_TEST_CA_FILE": args.ca_file,
                "NODE_EXTRA_CA_CERTS": args.ca_file,
            }
            plain = {**base, **extra, "AWS_ENDPOINT_URL_DYNAMODB": args.plain}
            envs[key] = {"share": tls, "init-full": tls, "plain": plain}
        log_path = os.path.join(homes[0], "functions.log")
        fifos = [os.path.join(homes[0], "ready"), os.path.join(homes[0], "go")]
        for f in fifos:
            os.mkfifo(f)
        results = {(k, m, s): [] for k in impls for m in modes for s in sizes}

        def one(key, mode, size):
            command, _ = impls[key]
            env = {**envs[key][mode], "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(size or 1769)}
            cg.limit(None if mode == "init-full" or size is None else size)
            on_init = (lambda: cg.limit(size)) if mode == "init-full" and size else (lambda: None)
            before = cpu_stat(cg)
            r = run_once(command, f"{key}-{mode}-{size}", env, events_for("vtid-create", "", year), log, on_init, cg, fifos)
            after = cpu_stat(cg)
            cg.limit(None)
            r["throttled"] = after.get("nr_throttled", 0) - before.get("nr_throttled", 0)
            r["throttled_ms"] = (after.get("throttled_time", 0) - before.get("throttled_time", 0)) / 1e6
            for k in ("first_body", "bodies"):
                r.pop(k, None)
            return r

        with open(log_path, "wb") as log:
            try:
                for key in impls:
                    one(key, "share", None)  # creates the year's counter; not counted
                total = args.runs * len(modes) * len(sizes) * len(impls)
                done = 0
                for i in range(args.runs):
                    for mode in modes:
                        for size in sizes:
                            for key in impls:
                                results[(key, mode, size)].append(one(key, mode, size))
                                done += 1
                    print(f"bench_cold: {done}/{total} runs", file=sys.stderr)
            except RuntimeError as e:
                log.flush()
                with open(log_path, "rb") as f:
                    tail = f.read()[-3000:].decode(errors="replace")
                print(f"bench_cold: {e}\n--- function log ---\n{tail}", file=sys.stderr)
                sys.exit(1)
    finally:
        cg.remove()
        for h in homes:
            shutil.rmtree(h, ignore_errors=True)

    def med(key, mode, size, field):
        rs = results.get((key, mode, size))
        if not rs:
            return float("nan")
        if field == "total_ms":
            return statistics.median(r["init_ms"] + r["first_ms"] for r in rs)
        return statistics.median(r[field] for r in rs)

    def vcpu(size):
        return f"{size} MB ({size / ONE_VCPU_MB:.3f} vCPU)"

    for mode in (m for m in ("share", "init-full") if m in modes):
        print(f"**{MODES[mode][0].upper()}{MODES[mode][1:]}** (medians of {args.runs} runs, ms)")
        print()
        keys = [k for k in (RUST, NODE, VARIANT) if k in impls]
        head = "".join(f"| {NAMES[k]} init | {NAMES[k]} first response | {NAMES[k]} warm create " for k in keys)
        print(f"| memory (CPU share) {head}| first response, Node.js ÷ Rust |")
        print("|---" * (2 + 3 * len(keys)) + "|")
        for size in sizes:
            row = [vcpu(size)]
            for key in keys:
                row += [f"{med(key, mode, size, f):.1f}" for f in ("init_ms", "total_ms", "warm_ms")]
            row.append(f"{med(NODE, mode, size, 'total_ms') / med(RUST, mode, size, 'total_ms'):.1f}×")
            print("| " + " | ".join(row) + " |")
        print()
    if "plain" in modes and "share" in modes:
        print(f"**What TLS costs**: the first and the warm create alone (init excluded), over TLS and in plain "
              f"HTTP through the same proxy, the whole process at the share (medians of {args.runs} runs, ms)")
        print()
        print("| memory (CPU share) | Rust first create, TLS / plain | Rust init, TLS / plain | Rust warm, TLS / plain "
              "| Node.js first create, TLS / plain | Node.js init, TLS / plain | Node.js warm, TLS / plain |")
        print("|---|---|---|---|---|---|---|")
        for size in sizes:
            row = [vcpu(size)]
            for key in (RUST, NODE):
                for f in ("first_ms", "init_ms", "warm_ms"):
                    row.append(f"{med(key, 'share', size, f):.1f} / {med(key, 'plain', size, f):.1f}")
            print("| " + " | ".join(row) + " |")
        print()
    with open("/proc/loadavg") as f:
        print(f"Load average at the end (1, 5, 15 min): {' '.join(f.read().split()[:3])}.")
    print()
    print(f"**CPU time** the function used (cpuacct), medians over every run of the mode at every size, ms: "
          f"init / first create / warm create")
    print()
    keys = [k for k in (RUST, NODE, VARIANT) if k in impls]
    print("| mode | " + " | ".join(NAMES[k] for k in keys) + " |")
    print("|---" * (1 + len(keys)) + "|")
    for mode in modes:
        row = [MODES[mode]]
        for key in keys:
            rs = [r for s in sizes for r in results.get((key, mode, s), [])]
            if not rs:
                row.append("–")
                continue
            row.append(" / ".join(f"{statistics.median(r['cpu_ms'][i] for r in rs):.1f}" for i in range(3)))
        print("| " + " | ".join(row) + " |")
    print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "period_us": args.period_us,
                    "runs": args.runs,
                    "results": {f"{k}/{m}/{s}": v for (k, m, s), v in results.items()},
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
