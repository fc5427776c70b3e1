#!/usr/bin/env python3
"""Peer for `steward bench recsys`: the Python `implicit` library on the exact
split Steward wrote (train.tsv / test.tsv: a `# users items` line, then
`user<TAB>item<TAB>weight`), with the same hyper-parameters and threads.

Run it from a venv outside the repository:

    python3 -m venv /work/venvs/implicit
    /work/venvs/implicit/bin/pip install implicit numpy scipy
    /work/venvs/implicit/bin/python bench/recsys_peer.py --train T --test S ...

Confidence: Steward uses c = 1 + alpha * weight. implicit multiplies the
matrix by its `alpha` and uses the values as c (its CG solver works with
c - 1), so the peer hands implicit the matrix 1 + alpha * weight with
implicit's alpha = 1: the same normal equations on both sides.

Metrics follow steward-recsys/src/metrics.rs: full ranking, training items
filtered, binary relevance, recall over all held-out items, nDCG's ideal and
MAP's normaliser over min(|held out|, 10).

Prints one JSON object as its last line: per model the metrics and, for ALS,
seconds per iteration (median over runs of the per-iteration times).
"""

import argparse
import json
import os
import sys
import time

# One BLAS thread: implicit parallelises over users itself and warns otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402


def read_split(path):
    with open(path) as handle:
        header = handle.readline().split()
        n_users, n_items = int(header[1]), int(header[2])
        data = np.loadtxt(handle, delimiter="\t", dtype=np.float64, ndmin=2)
    if data.size == 0:
        data = np.zeros((0, 3))
    users = data[:, 0].astype(np.int64)
    items = data[:, 1].astype(np.int64)
    weights = data[:, 2].astype(np.float32)
    return sp.csr_matrix((weights, (users, items)), shape=(n_users, n_items), dtype=np.float32)


def user_metrics(ranked, relevant):
    hits10 = [item in relevant for item in ranked[:10]]
    hits20 = sum(item in relevant for item in ranked[:20])
    dcg = sum(1.0 / np.log2(rank + 2) for rank, hit in enumerate(hits10) if hit)
    ideal_hits = min(len(relevant), 10)
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(ideal_hits))
    average_precision, found = 0.0, 0
    for rank, hit in enumerate(hits10):
        if hit:
            found += 1
            average_precision += found / (rank + 1)
    return (
        sum(hits10) / 10.0,
        sum(hits10) / len(relevant),
        hits20 / len(relevant),
        dcg / ideal,
        average_precision / ideal_hits,
    )


def evaluate(model, train, test):
    users = np.flatnonzero(np.diff(test.indptr))
    ids, _scores = model.recommend(users, train[users], N=20, filter_already_liked_items=True)
    totals = np.zeros(5)
    shown = set()
    for row, user in enumerate(users):
        relevant = set(test.indices[test.indptr[user] : test.indptr[user + 1]].tolist())
        ranked = [int(item) for item in ids[row] if item >= 0]
        totals += user_metrics(ranked, relevant)
        shown.update(ranked[:10])
    count = max(len(users), 1)
    names = ["p@10", "r@10", "r@20", "ndcg@10", "map@10"]
    out = {name: float(value / count) for name, value in zip(names, totals)}
    out["coverage"] = len(shown) / train.shape[1]
    out["users"] = int(len(users))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--regularization", type=float, default=0.05)
    parser.add_argument("--alpha", type=float, default=2.0)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--cg-steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--knn-neighbours", type=int, default=0, help="also run CosineRecommender(K) when > 0")
    parser.add_argument("--bpr-epochs", type=int, default=0, help="also run BPR when > 0")
    args = parser.parse_args()

    import implicit
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import CosineRecommender

    train = read_split(args.train)
    test = read_split(args.test) if args.test else None
    confidence = train.copy()
    confidence.data = 1.0 + args.alpha * confidence.data

    result = {"implicit_version": implicit.__version__, "threads": args.threads}
    per_iteration = []
    fit_seconds = []
    run_metrics = []
    for run in range(args.runs):
        model = AlternatingLeastSquares(
            factors=args.factors,
            regularization=args.regularization,
            alpha=1.0,
            iterations=args.iterations,
            use_cg=True,
            calculate_training_loss=False,
            num_threads=args.threads,
            random_state=args.seed + run,
        )
        model.cg_steps = args.cg_steps
        times = []
        started = time.perf_counter()
        model.fit(confidence, show_progress=False, callback=lambda _it, elapsed, _loss: times.append(elapsed))
        fit_seconds.append(time.perf_counter() - started)
        per_iteration.append(float(np.median(times)))
        if test is not None:
            run_metrics.append(evaluate(model, train, test))
    als = {
        "seconds_per_iteration": float(np.median(per_iteration)),
        "fit_seconds": float(np.median(fit_seconds)),
    }
    if run_metrics:
        # The mean over the runs (each with its own seed), as Steward reports.
        for key in run_metrics[0]:
            als[key] = float(np.mean([metrics[key] for metrics in run_metrics]))
        als["users"] = run_metrics[0]["users"]
    result["als"] = als

    if test is not None and args.knn_neighbours > 0:
        knn = CosineRecommender(K=args.knn_neighbours, num_threads=args.threads)
        knn.fit(train, show_progress=False)
        result["item_knn"] = evaluate(knn, train, test)

    if test is not None and args.bpr_epochs > 0:
        bpr = BayesianPersonalizedRanking(
            factors=args.factors,
            iterations=args.bpr_epochs,
            num_threads=args.threads,
            random_state=args.seed,
        )
        bpr.fit(train, show_progress=False)
        result["bpr"] = evaluate(bpr, train, test)

    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
