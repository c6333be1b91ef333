"""Rust and Node.js side by side, in one run on one moto (issue 11).

Compares the release `vtid-create` with the Node.js 20 handler of bench/node (Zod,
@nasa-gcn/dynamodb-autoincrement, AWS SDK v3), both started as Lambda starts them on the
local Runtime API of lambda_emulator.py, the Node.js one through its own Runtime API loop
(bench/node/runtime), once as the esbuild bundle and once from node_modules:

1. cold starts: init, first (cold) create, warm create, peak memory and the DynamoDB
   requests of each, over --runs cold starts each, taken in turn (Rust, bundle,
   node_modules, Rust, ...) on tables of their own whose year counter already exists;
2. the record items both wrote are compared attribute by attribute (names and types,
   the JSON document's fields): the run stops if the layouts differ;
3. `vtid-events`: its cold start on two stream batches of 10 of the records created;
4. concurrent creators (1, 4, 16) through the fault proxy with conflicts on (each write
   holds its items 8 ms): creates/s, DynamoDB requests per create, p50/p99 latency, each
   implementation on a fresh table (instance_pool.py); the requests counted per create
   must add up to what the fault proxy counted.

Every DynamoDB request of both goes through a counting hop (dynamo_counter.py). Prints
one markdown table with both side by side and their ratios (Node.js ÷ Rust), and the
events function's row.

Usage: bench_compare.py --bin-dir DIR --node-dir DIR --endpoint MOTO_URL --proxy URL
                        [--runs 10] [--creates 96] [--creators 1,4,16] [--json FILE]
--bin-dir holds vtid-create, vtid-events and vtid-bench (native release build).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

import instance_pool
from api_events import events_for
from dynamo_counter import Counter
from lambda_emulator import cold_starts, created_vtids, env_base, run_once, summary
from stream_batch import Sinks, record_items

RUST, BUNDLE, MODULES = "rust", "bundle", "modules"
NAMES = {
    RUST: "Rust `vtid-create`",
    BUNDLE: "Node.js 20, esbuild bundle",
    MODULES: "Node.js 20, node_modules",
}


def commands(bin_dir, node_dir):
    """Each implementation's command and the environment it adds."""
    boot = os.path.join(node_dir, "runtime", "bootstrap")
    return {
        RUST: ([os.path.join(bin_dir, "vtid-create")], {}),
        BUNDLE: ([boot], {"LAMBDA_TASK_ROOT": node_dir, "_HANDLER": "dist/handler.handler"}),
        MODULES: ([boot], {"LAMBDA_TASK_ROOT": node_dir, "_HANDLER": "src/handler.handler"}),
    }


def create_table(bin_dir, endpoint, table):
    subprocess.run(
        [os.path.join(bin_dir, "vtid-bench"), "create-table", "--endpoint", endpoint, "--table", table],
        check=True,
    )


def fail(message, log_path=None):
    tail = ""
    if log_path:
        with open(log_path, "rb") as f:
            tail = "\n--- function log ---\n" + f.read()[-3000:].decode(errors="replace")
    print(f"bench_compare: {message}{tail}", file=sys.stderr)
    sys.exit(1)


def cold(args, impls, log, log_path):
    """Cold starts of every implementation, in turn; the first of each only creates
    the year's counter and is not counted."""
    year = time.strftime("%Y", time.gmtime())
    runs = {k: [] for k in impls}
    counters = {}
    envs = {}
    for key, (_, extra) in impls.items():
        table = f"{args.table}-cold-{key}"
        create_table(args.bin_dir, args.endpoint, table)
        counters[key] = Counter(args.endpoint)
        envs[key] = {**env_base(counters[key].url, table), **extra}
    for i in range(args.runs + 1):
        for key, (command, _) in impls.items():
            events = events_for("vtid-create", "VTID-2026-0001", year)
            try:
                r = run_once(command, key, envs[key], events, log, counters[key].count)
            except RuntimeError as e:
                log.flush()
                fail(str(e), log_path)
            if i > 0:
                runs[key].append(r)
    for c in counters.values():
        c.close()
    return runs


def layout(item):
    """What a record item looks like, values aside: attributes and their types, and the
    fields of its JSON documents."""
    return {
        "attributes": sorted((k, next(iter(v))) for k, v in item.items()),
        "doc": sorted(json.loads(item["doc"]["S"])),
        "created": sorted(json.loads(item["created"]["S"])),
        "created.changes": sorted(json.loads(item["created"]["S"])["changes"]),
    }


def same_layout(endpoint, runs, table):
    """Differences between the record items of the Rust and the Node.js creates."""
    shapes = {}
    for key, rs in runs.items():
        vtid = created_vtids("vtid-create", rs[0])[0]
        shapes[key] = layout(record_items(endpoint, f"{table}-cold-{key}", [vtid])[0])
    problems = []
    for key, shape in shapes.items():
        for part, value in shape.items():
            if value != shapes[RUST][part]:
                problems.append(f"{NAMES[key]}: {part} {value} differs from Rust's {shapes[RUST][part]}")
    return problems


def events_cold(args, runs, log, log_path):
    """`vtid-events` on batches of the records the Rust creates wrote."""
    vtids = [v for r in runs for v in created_vtids("vtid-create", r)]
    items = record_items(args.endpoint, f"{args.table}-cold-{RUST}", vtids)
    sinks = Sinks()
    env = {**env_base(args.endpoint, f"{args.table}-cold-{RUST}"), **sinks.env()}
    command = [os.path.join(args.bin_dir, "vtid-events")]
    out = cold_starts("vtid-events", command, env, lambda: sinks.events(items), args.runs, log, log_path)
    sinks.close()
    return out


def proxy_call(proxy, path, method="GET"):
    req = urllib.request.Request(f"{proxy}/_faults/{path}", method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    return sorted_values[round((len(sorted_values) - 1) * p)]


def contention(args, impls, log, log_path):
    rows = {}
    for creators in args.creators:
        for key in (RUST, BUNDLE):
            command, extra = impls[key]
            table = f"{args.table}-c{creators}-{key}"
            create_table(args.bin_dir, args.endpoint, table)
            proxy_call(args.proxy, "reset", "POST")
            try:
                lat, req, vtids, refused, elapsed = instance_pool.run(
                    command, env_base(args.proxy, table), args.proxy, creators,
                    args.creates, log, extra,
                )
            except RuntimeError as e:
                log.flush()
                fail(f"{NAMES[key]}, {creators} creators: {e}", log_path)
            seen = sum(c.get("requests", 0) for c in proxy_call(args.proxy, "stats").values())
            if seen != sum(req):
                fail(f"{NAMES[key]}, {creators} creators: counted {sum(req)} requests, the proxy saw {seen}")
            seqs = [int(v.rsplit("-", 1)[1]) for v in vtids]
            lat = sorted(x * 1000 for x in lat)
            rows[(key, creators)] = {
                "creates": len(vtids),
                "creates_per_s": len(vtids) / elapsed,
                "requests_mean": statistics.mean(req),
                "requests_max": max(req),
                "p50_ms": percentile(lat, 0.5),
                "p99_ms": percentile(lat, 0.99),
                "refused": refused,
                "duplicates": len(seqs) - len(set(seqs)),
                "missing": max(seqs) - len(set(seqs)),
            }
    return rows


def ratio(node, rust):
    return f"{node / rust:.1f}×" if rust else "–"


def cold_row(runs):
    s = summary("", runs)
    firsts = [r["init_ms"] + r["first_ms"] for r in runs]
    reqs = [r["requests"] for r in runs]
    return {
        **s,
        "cold_total_ms_median": statistics.median(firsts),
        # The most any run took, per phase: init / cold create / warm create.
        "requests": [max(r[i] for r in reqs) for i in range(3)],
    }


def table(cold_rows, cont, creators):
    r, b, m = cold_rows[RUST], cold_rows[BUNDLE], cold_rows[MODULES]
    out = [
        f"| | {NAMES[RUST]} | {NAMES[BUNDLE]} | ÷ Rust | {NAMES[MODULES]} | ÷ Rust |",
        "|---|---|---|---|---|---|",
    ]

    def line(label, key, fmt="{:.1f}"):
        out.append(
            f"| {label} | {fmt.format(r[key])} | {fmt.format(b[key])} | {ratio(b[key], r[key])} "
            f"| {fmt.format(m[key])} | {ratio(m[key], r[key])} |"
        )

    def spread(x):
        return f"{x['init_ms_median']:.1f} ({x['init_ms_min']:.1f}–{x['init_ms_max']:.1f})"

    out.append(
        f"| init, median (min–max) ms | {spread(r)} | {spread(b)} | {ratio(b['init_ms_median'], r['init_ms_median'])} "
        f"| {spread(m)} | {ratio(m['init_ms_median'], r['init_ms_median'])} |"
    )
    line("first (cold) create, median ms", "first_ms_median")
    line("init + first create, median ms", "cold_total_ms_median")
    line("warm create, median ms", "warm_ms_median")
    line("peak memory (VmHWM), MiB", "peak_mib_max")
    reqs = lambda x: " / ".join(str(n) for n in x["requests"])  # noqa: E731
    out.append(
        f"| DynamoDB requests: init / cold create / warm create | {reqs(r)} | {reqs(b)} | – | {reqs(m)} | – |"
    )
    for n in creators:
        rc, nc = cont[(RUST, n)], cont[(BUNDLE, n)]
        out.append(
            f"| {n} creator{'s' if n > 1 else ''}: creates/s | {rc['creates_per_s']:.0f} | {nc['creates_per_s']:.0f} "
            f"| {ratio(nc['creates_per_s'], rc['creates_per_s'])} | | |"
        )
        out.append(
            f"| {n}: requests per create, mean (max) | {rc['requests_mean']:.2f} ({rc['requests_max']}) "
            f"| {nc['requests_mean']:.2f} ({nc['requests_max']}) | {ratio(nc['requests_mean'], rc['requests_mean'])} | | |"
        )
        out.append(
            f"| {n}: p50 / p99 ms | {rc['p50_ms']:.1f} / {rc['p99_ms']:.1f} | {nc['p50_ms']:.1f} / {nc['p99_ms']:.1f} "
            f"| {ratio(nc['p50_ms'], rc['p50_ms'])} / {ratio(nc['p99_ms'], rc['p99_ms'])} | | |"
        )
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--node-dir", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--table", default="vtid-compare")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--creates", type=int, default=96)
    ap.add_argument("--creators", default="1,4,16")
    ap.add_argument("--json")
    args = ap.parse_args()
    args.node_dir = os.path.abspath(args.node_dir)
    args.creators = [int(c) for c in args.creators.split(",")]

    impls = commands(args.bin_dir, args.node_dir)
    log_path = os.path.join(env_base(args.endpoint, "")["HOME"], "functions.log")
    with open(log_path, "wb") as log:
        print(f"bench_compare: {args.runs} cold starts of each", file=sys.stderr)
        runs = cold(args, impls, log, log_path)
        problems = same_layout(args.endpoint, runs, args.table)
        if problems:
            fail("the implementations write different record items:\n" + "\n".join(problems))
        print("bench_compare: vtid-events", file=sys.stderr)
        events = summary("vtid-events", events_cold(args, runs[RUST], log, log_path))
        print("bench_compare: concurrent creators through the fault proxy", file=sys.stderr)
        cont = contention(args, impls, log, log_path)

    cold_rows = {k: cold_row(v) for k, v in runs.items()}
    print(table(cold_rows, cont, args.creators))
    print()
    print("| function | init, median (min–max) ms | first batch (10 records), median ms | warm batch, median ms | peak memory (VmHWM) MiB |")
    print("|---|---|---|---|---|")
    print(
        f"| vtid-events | {events['init_ms_median']:.1f} ({events['init_ms_min']:.1f}–{events['init_ms_max']:.1f}) "
        f"| {events['first_ms_median']:.1f} | {events['warm_ms_median']:.1f} | {events['peak_mib_max']:.1f} |"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "cold": cold_rows,
                    "events": events,
                    "contention": {f"{k}-{n}": v for (k, n), v in cont.items()},
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
