"""Lambda's price per month for `vtid-create` at each memory size, from bench-cold's runs.

Reads bench-results/cold.json (scripts/bench-cold) and prints the markdown table of
docs/deploy.md, "Memory size": GB-seconds at each size from the measured durations, plus
requests, at AWS's published arm64 Lambda prices (us-east-1): $0.0000133334 per
GB-second and $0.20 per million requests; free tier left out. Lambda bills the init phase
of a cold start too (always for a custom runtime such as `provided.al2023`), in 1 ms
steps.

Two loads:
  a dozen creates a day   360 a month, each a cold start (an instance is reclaimed long
                          before the next create): billed init + first create;
  1,000 creates an hour   all month (730 hours, 730,000 creates), warm: one instance
                          serves a create every 3.6 s; billed warm creates, plus one cold
                          start an hour.

Durations are the medians of the `share` mode (the whole process at the memory's CPU
share), over TLS; they include moto's time on loopback, not DynamoDB's.

Usage: bench_cold_cost.py [bench-results/cold.json] [--node | --variant]
"""

import json
import math
import statistics
import sys

GB_SECOND = 0.0000133334
PER_REQUEST = 0.20 / 1_000_000


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    path = args[0] if args else "bench-results/cold.json"
    runtime = "node" if "--node" in sys.argv else "variant" if "--variant" in sys.argv else "rust"
    with open(path) as f:
        data = json.load(f)["results"]
    sizes = sorted({int(k.split("/")[2]) for k in data if k.startswith(f"{runtime}/share/")})
    print("| memory | first response, median ms | a dozen creates a day (360 cold a month) | 1,000 creates an hour all month (730,000 warm + 730 cold) |")
    print("|---|---|---|---|")
    for size in sizes:
        runs = data[f"{runtime}/share/{size}"]
        cold = statistics.median(r["init_ms"] + r["first_ms"] for r in runs)
        warm = statistics.median(r["warm_ms"] for r in runs)
        gb = size / 1024

        def cost(n_cold, n_warm):
            seconds = n_cold * math.ceil(cold) / 1000 + n_warm * math.ceil(warm) / 1000
            return seconds * gb * GB_SECOND + (n_cold + n_warm) * PER_REQUEST

        print(f"| {size} MB | {cold:.0f} | ${cost(360, 0):.4f} | ${cost(730, 730_000):.2f} |")


if __name__ == "__main__":
    main()
