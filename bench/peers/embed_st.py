"""Peer for `steward bench embed`: sentence-transformers (PyTorch, CPU) on the
same texts. Prints one JSON line: sentences_per_s, passages_per_s.

Texts come as JSON lines (one JSON string per line) so that newlines survive.
Timing includes tokenization, as Steward's does; one warm-up call first.
"""

import argparse
import json
import time


def read_texts(path):
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--sentences", required=True)
    parser.add_argument("--passages", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    import sentence_transformers
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(args.model, device="cpu")
    sentences = read_texts(args.sentences)
    passages = read_texts(args.passages)

    def rate(texts):
        model.encode(texts[: args.batch_size], batch_size=args.batch_size)
        start = time.perf_counter()
        model.encode(texts, batch_size=args.batch_size)
        return len(texts) / (time.perf_counter() - start)

    with torch.inference_mode():
        sentences_per_s = rate(sentences)
        passages_per_s = rate(passages)
    print(
        json.dumps(
            {
                "name": "sentence-transformers",
                "version": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
                "sentences_per_s": sentences_per_s,
                "passages_per_s": passages_per_s,
            }
        )
    )


if __name__ == "__main__":
    main()
