"""Peer for `steward bench embed`: ONNX Runtime (fp32, CPU) on the same texts,
with the same tokenization (tokenizer.json, padding and truncation off, max 256
tokens) and pooling (masked mean, L2) as Steward and length-sorted batches.
Prints one JSON line: sentences_per_s, passages_per_s.

The model is exported once with torch.onnx.export (TorchScript exporter, opset
17) into a temporary folder keyed by the model path, and reused afterwards.
"""

import argparse
import hashlib
import json
import os
import tempfile
import time

import numpy as np


def read_texts(path):
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def export(model_dir):
    key = hashlib.sha256(os.path.abspath(model_dir).encode()).hexdigest()[:16]
    folder = os.path.join(tempfile.gettempdir(), f"steward-onnx-{key}")
    path = os.path.join(folder, "model.onnx")
    if os.path.exists(path):
        return path
    import torch
    from transformers import AutoModel

    os.makedirs(folder, exist_ok=True)
    class LastHiddenState(torch.nn.Module):
        # Keyword arguments: BertModel.forward's positional order changed across
        # transformers releases.
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    bert = AutoModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    model = LastHiddenState(bert)
    ids = torch.ones((2, 16), dtype=torch.long)
    partial = path + ".part"
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            partial,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "token_type_ids": {0: "batch", 1: "sequence"},
                "last_hidden_state": {0: "batch", 1: "sequence"},
            },
            opset_version=17,
            dynamo=False,
        )
    os.replace(partial, path)
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--sentences", required=True)
    parser.add_argument("--passages", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()

    import onnxruntime as ort
    from tokenizers import Tokenizer

    onnx_path = export(args.model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(args.max_length)

    def encode(texts):
        encodings = tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda index: len(encodings[index].ids))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), args.batch_size):
            batch = order[start : start + args.batch_size]
            width = max(len(encodings[index].ids) for index in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, index in enumerate(batch):
                tokens = encodings[index].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            (hidden,) = session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
            out[batch] = pooled
        return out

    def rate(texts):
        encode(texts[: args.batch_size])
        start = time.perf_counter()
        encode(texts)
        return len(texts) / (time.perf_counter() - start)

    print(
        json.dumps(
            {
                "name": "onnxruntime",
                "version": f"onnxruntime {ort.__version__}",
                "sentences_per_s": rate(read_texts(args.sentences)),
                "passages_per_s": rate(read_texts(args.passages)),
            }
        )
    )


if __name__ == "__main__":
    main()
