"""Peer for `steward bench generate`: llama.cpp (through llama-cpp-python) on the
same GGUF file and the same token ids. Prints one JSON line:
prompt_tok_s, decode_tok_s, threads, llama_cpp_version.

The prompt is evaluated in one batch (prompt processing), then `--gen-tokens`
greedy tokens are decoded one at a time (decode), as Steward's bench does. One
warm-up run first; the median of `--repeats` runs is reported.
"""

import argparse
import json
import statistics
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="path to the .gguf file")
    parser.add_argument("--tokens", required=True, help="prompt token ids, comma-separated")
    parser.add_argument("--gen-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import llama_cpp

    prompt = [int(token) for token in args.tokens.split(",") if token]
    n_ctx = len(prompt) + args.gen_tokens + 8
    llm = llama_cpp.Llama(
        model_path=args.model,
        n_ctx=n_ctx,
        n_batch=max(512, len(prompt)),
        n_threads=args.threads,
        n_threads_batch=args.threads,
        logits_all=False,
        verbose=False,
    )

    def run(gen_tokens):
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        prompt_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(gen_tokens):
            logits = llm.scores[llm.n_tokens - 1]
            llm.eval([int(np.argmax(logits))])
        decode_s = time.perf_counter() - start
        return len(prompt) / prompt_s, gen_tokens / decode_s if gen_tokens else 0.0

    run(8)
    runs = [run(args.gen_tokens) for _ in range(args.repeats)]
    print(
        json.dumps(
            {
                "prompt_tok_s": statistics.median(r[0] for r in runs),
                "decode_tok_s": statistics.median(r[1] for r in runs),
                "threads": args.threads,
                "llama_cpp_version": getattr(llama_cpp, "__version__", "unknown"),
            }
        )
    )


if __name__ == "__main__":
    main()
