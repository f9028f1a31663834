"""The configuration sweep behind Skipper's DataFusion settings for small machines: TPC-H
(22 queries) through DataFusion used directly, one session per variant, interleaved, best of N;
geomean and worst query relative to DataFusion's defaults.

    python3 benches/peers/tune.py [--rounds 2]   (after tpch.py has generated the data)
"""
import argparse
import math
import os
import time

import common
import tpch

J = {"datafusion.optimizer.hash_join_single_partition_threshold": "33554432",
     "datafusion.optimizer.hash_join_single_partition_threshold_rows": "1048576"}
B = {"datafusion.execution.batch_size": "16384"}
P = {"datafusion.execution.parquet.pushdown_filters": "true",
     "datafusion.execution.parquet.reorder_filters": "true"}
VARIANTS = {
    "defaults": ({}, 2),
    "parquet filter pushdown": (P, 2),
    "batch 16384": (B, 2),
    "join threshold": (J, 2),
    "4 partitions": ({}, 4),
    "join threshold + batch (chosen)": ({**J, **B}, 2),
}


def main():
    import datafusion
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    data = os.path.join(common.ROOT, "target", "bench", "tpch-sf1")
    queries = tpch.tpch_queries()
    ctxs = {}
    for name, (opts, parts) in VARIANTS.items():
        cfg = datafusion.SessionConfig().with_target_partitions(parts)
        for k, v in opts.items():
            cfg = cfg.set(k, v)
        c = datafusion.SessionContext(cfg)
        for t in tpch.TABLES:
            c.register_parquet(t, os.path.join(data, f"{t}.parquet"))
        ctxs[name] = c
    best = {n: [math.inf] * len(queries) for n in VARIANTS}
    for _ in range(args.rounds):
        for i, (_, q) in enumerate(queries):
            for n, c in ctxs.items():
                t = time.perf_counter()
                c.sql(q).collect()
                best[n][i] = min(best[n][i], time.perf_counter() - t)
    base = best["defaults"]
    print(f"{'variant':<34}{'total s':>9}{'geomean':>9}{'worst':>7}")
    for n in VARIANTS:
        r = [a / b for a, b in zip(best[n], base)]
        print(f"{n:<34}{sum(best[n]):>9.2f}{common.geomean(r):>9.3f}{max(r):>7.2f}")


if __name__ == "__main__":
    main()
