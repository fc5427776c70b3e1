"""Writes the sentence-transformers reference vectors that
crates/steward-ml/tests/embed_parity.rs compares Steward's BERT embedder with.

Run once from a venv with sentence-transformers (outside the repository):
    python bench/peers/make_minilm_reference.py \
        --model ../shared/models/all-MiniLM-L6-v2 \
        --out crates/steward-ml/tests/data/minilm_reference.json
The sentences are written for this test (English prose, code-heavy snippets,
mixed, a little Chinese, short and near the 256-token limit); none is copied
from a dataset.
"""

import argparse
import json

PROSE = [
    "How do I undo the most recent local commits in Git?",
    "What is the difference between a process and a thread?",
    "Why is processing a sorted array faster than processing an unsorted array?",
    "How can I merge two dictionaries in a single expression?",
    "Backpropagation computes the gradient of the loss with respect to every weight.",
    "Is it safe to store passwords with a single round of SHA-256?",
    "The server returns HTTP 502 only when the request body is larger than one megabyte.",
    "Which activation function should I use in the hidden layers of a small network?",
    "Our nightly backup job stopped running after the upgrade to the new kernel.",
    "Can a convolutional network learn rotation invariance without data augmentation?",
    "What does the term 'overfitting' mean, and how do I detect it early?",
    "I get a segmentation fault when the vector is resized inside the loop.",
    "How do I configure a reverse proxy so that websockets keep working?",
    "Stake pools on Cardano need a relay node and a block-producing node.",
    "Why does my Docker container exit immediately after it starts?",
    "The model's validation accuracy stays at fifty percent no matter what I try.",
    "How should I version a REST API that mobile clients depend on?",
    "What are good practices for naming branches in a large team?",
    "Is reinforcement learning a good fit for scheduling jobs on a cluster?",
    "hello",
    "",
    "A",
    "Thanks, that fixed it!",
    "UTF-8 text with accents: café, naïve, Ångström, résumé.",
    "Numbers and units: 3.5 GHz, 16 GiB, 1e-12, -42, 0x1F, 98.6°F.",
    "如何在 Rust 中读取一个文件？",
    "机器学习模型在验证集上的准确率很低，应该怎么办？",
    "Mixed: 我用 Python 的 pandas 读取 CSV 文件时出现 UnicodeDecodeError。",
]

CODE = [
    "fn main() { let v: Vec<i32> = (0..10).map(|x| x * x).collect(); println!(\"{:?}\", v); }",
    "SELECT u.id, COUNT(p.id) FROM users u LEFT JOIN posts p ON p.owner_id = u.id GROUP BY u.id HAVING COUNT(p.id) > 5;",
    "import numpy as np\nx = np.linspace(0, 1, 100)\ny = np.sin(2 * np.pi * x)\nprint(y.mean())",
    "TypeError: unsupported operand type(s) for +: 'int' and 'str'",
    "error[E0502]: cannot borrow `v` as mutable because it is also borrowed as immutable",
    "git rebase -i HEAD~3 && git push --force-with-lease origin feature/login",
    "const sum = (a, b) => a + b; export default { sum };",
    "public static void main(String[] args) { System.out.println(\"Hello, World\"); }",
    "docker run --rm -it -v $(pwd):/app -w /app python:3.11 pip install -r requirements.txt",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", sizeof(long)); return 0; }",
    "kubectl get pods -n kube-system -o wide | grep -v Running",
    "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])",
    "for (int i = 0; i < n; ++i) { for (int j = 0; j < n; ++j) { c[i][j] += a[i][k] * b[k][j]; } }",
    "cardano-cli query utxo --address $(cat payment.addr) --testnet-magic 1097911063",
    "Traceback (most recent call last):\n  File \"train.py\", line 42, in <module>\n    loss.backward()\nRuntimeError: CUDA out of memory.",
    "<div class=\"container\"><ul id=\"menu\"><li><a href=\"/\">Home</a></li></ul></div>",
    "regex: ^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)@example\\.com$",
    "let mut map: HashMap<String, Vec<usize>> = HashMap::new(); map.entry(key).or_default().push(idx);",
    "df.groupby(['user_id', 'tag']).agg(count=('post_id', 'nunique')).reset_index()",
    "async fn handler(State(db): State<Pool>) -> Result<Json<Vec<Post>>, ApiError> { todo!() }",
]


def long_texts():
    """Texts from about 100 to just under 256 tokens, prose and code."""
    paragraph = (
        "When the training loss keeps falling while the validation loss rises, the "
        "network is memorising the training set. Regularisation such as dropout, "
        "weight decay and early stopping usually helps, and so does more data. "
    )
    code = (
        "def train(model, loader, optimizer):\n"
        "    model.train()\n"
        "    for batch_idx, (data, target) in enumerate(loader):\n"
        "        optimizer.zero_grad()\n"
        "        output = model(data)\n"
        "        loss = F.nll_loss(output, target)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
    )
    return [
        paragraph * 2,
        paragraph * 4,
        code,
        code * 2,
        "My training loop is slow, here is the code:\n" + code + "\nWhat should I change?",
        paragraph + code + paragraph,
        paragraph * 5,
        code * 3,
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(args.model, device="cpu")
    sentences = PROSE + CODE + long_texts()
    lengths = [len(model.tokenizer(text)["input_ids"]) for text in sentences]
    assert max(lengths) <= model.max_seq_length, max(lengths)
    vectors = model.encode(sentences, batch_size=16, normalize_embeddings=False)
    rows = [
        {
            "text": text,
            "tokens": length,
            "vector": [float(f"{value:.7g}") for value in vector],
        }
        for text, length, vector in zip(sentences, lengths, vectors)
    ]
    import sentence_transformers
    import torch

    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(
            {
                "model": "sentence-transformers/all-MiniLM-L6-v2",
                "made_with": {
                    "sentence_transformers": sentence_transformers.__version__,
                    "torch": torch.__version__,
                },
                "sentences": rows,
            },
            out,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        out.write("\n")
    print(f"wrote {len(rows)} sentences, tokens {min(lengths)}..{max(lengths)}")


if __name__ == "__main__":
    main()
