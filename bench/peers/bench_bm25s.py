"""bm25s side of `steward bench search`: index a JSONL corpus, retrieve the top
k for every query on one thread, print one JSON object of figures and write the
top ids per query to --top-out.

bm25s cuts text with its own default tokenizer (scikit-learn's pattern
`(?u)\\b\\w\\w+\\b`, lower-cased, English stopwords removed, no stemming), not
Steward's analyzer. Install it in a throwaway venv, never as a product
dependency:

    python3 -m venv /work/venvs/bm25s
    /work/venvs/bm25s/bin/pip install bm25s numpy scipy
"""

import argparse
import json
import time

import bm25s
import numpy as np

TOKENIZER = "bm25s.tokenize defaults: (?u)\\b\\w\\w+\\b, lower-cased, English stopwords, no stemmer"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True, help="JSONL of {id, text}")
    parser.add_argument("--queries", required=True, help="JSON array of strings")
    parser.add_argument("--top-out", required=True, help="where the top ids go")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    ids, texts = [], []
    with open(args.corpus, encoding="utf-8") as corpus:
        for line in corpus:
            document = json.loads(line)
            ids.append(document["id"])
            texts.append(document["text"])
    with open(args.queries, encoding="utf-8") as file:
        queries = json.load(file)
    k = min(args.k, len(texts))

    started = time.perf_counter()
    corpus_tokens = bm25s.tokenize(texts, show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(corpus_tokens, show_progress=False)
    build_seconds = time.perf_counter() - started

    def top_ids(indices, scores):
        # A query of stopwords only scores nothing: bm25s still returns k
        # documents (score 0); they are no hits.
        return [ids[int(i)] for i, s in zip(indices, scores) if s > 0]

    # Warm up, as Steward does.
    for query in queries[:20]:
        retriever.retrieve(
            bm25s.tokenize(query, return_ids=False, show_progress=False),
            k=k,
            show_progress=False,
        )

    # One query at a time, its tokenization included: what a search box does.
    latencies, top = [], []
    started = time.perf_counter()
    for query in queries:
        one = time.perf_counter()
        tokens = bm25s.tokenize(query, return_ids=False, show_progress=False)
        documents, scores = retriever.retrieve(tokens, k=k, show_progress=False, n_threads=0)
        latencies.append((time.perf_counter() - one) * 1000.0)
        top.append(top_ids(documents[0], scores[0]))
    loop_seconds = time.perf_counter() - started

    # All queries in one call.
    started = time.perf_counter()
    tokens = bm25s.tokenize(queries, return_ids=False, show_progress=False)
    retriever.retrieve(tokens, k=k, show_progress=False, n_threads=0)
    batched_seconds = time.perf_counter() - started

    latencies.sort()

    def percentile(q):
        rank = min(max(int(np.ceil(q * len(latencies))), 1), len(latencies))
        return latencies[rank - 1]

    with open(args.top_out, "w", encoding="utf-8") as out:
        json.dump(top, out)
    print(
        json.dumps(
            {
                "name": "bm25s",
                "version": f"bm25s {bm25s.__version__} (numpy {np.__version__})",
                "build_docs_per_sec": len(texts) / max(build_seconds, 1e-9),
                "queries_per_sec": len(queries) / max(loop_seconds, 1e-9),
                "batched_queries_per_sec": len(queries) / max(batched_seconds, 1e-9),
                "p50_ms": percentile(0.50),
                "p99_ms": percentile(0.99),
                "tokenizer": TOKENIZER,
                "backend": retriever.backend,
            }
        )
    )


if __name__ == "__main__":
    main()
