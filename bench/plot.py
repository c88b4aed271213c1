"""Draws bench/latency.png from bench/results.json (called by hoclieu-bench).

Left: in-process latency distributions per query class, hoclieu beside the peers.
Right: HTTP latency percentiles per number of connections.
"""
import json
import sys

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

results = json.load(open(sys.argv[1], encoding="utf-8"))
engines = [("hoclieu", results["hoclieu"])] + [(p["engine"], p["classes"]) for p in results["peers"]]
colours = {"hoclieu": "tab:green", "PostgreSQL FTS": "tab:blue", "SQLite FTS5": "tab:orange"}
styles = {"eval": "-", "selective": "--", "stress": ":", "suggest": "-."}

fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
for name, classes in engines:
    for row in classes:
        cls, lat = row["class"], row["latency"]
        samples = lat["samples_ms"]
        if not samples:
            continue
        n = len(samples)
        left.plot(samples, [100.0 * (i + 1) / n for i in range(n)], styles.get(cls, "-"),
                  color=colours.get(name, "grey"), label=f"{name} {cls}")
left.set_xscale("log")
left.set_xlabel("latency, ms (log scale)")
left.set_ylabel("queries answered within, %")
left.set_title(f"In-process, one thread, {results['records']:,} records")
left.grid(True, which="both", alpha=0.3)
left.legend(fontsize=7, loc="lower right")

for level in results["http"]:
    curve = [(p, ms) for p, ms in level["curve_ms"] if p <= 99.9]
    right.plot([p for p, _ in curve], [ms for _, ms in curve], marker="o", markersize=3,
               label=f"{level['connections']} connections, {level['requests_per_sec']['median']:.0f} req/s")
# Percentiles spread so that the tail (p99, p99.9) gets as much room as the median.
right.set_xscale("function", functions=(lambda p: -np.log10(100.0001 - np.asarray(p)),
                                        lambda y: 100.0001 - 10 ** (-np.asarray(y))))
right.set_xlim(1, 99.95)
right.set_xticks([50, 90, 99, 99.9])
right.set_xticklabels(["p50", "p90", "p99", "p99.9"])
right.set_yscale("log")
right.set_xlabel("percentile")
right.set_ylabel("latency, ms (log scale)")
right.set_title("HTTP search under load (wrk, keep-alive)")
right.grid(True, which="both", alpha=0.3)
right.legend(fontsize=8)

fig.suptitle(f"hoclieu benchmark ({results['args']['label']}), {results['machine']['cores']} cores")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
