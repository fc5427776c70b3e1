"""Writes the reference token ids that crates/steward-ml/tests/llm_local.rs
compares Steward's GGUF tokenizer with (crates/steward-ml/tests/data/
smollm2_tokenizer_reference.json).

Two implementations that share no code with Steward, which must agree on every
text before anything is written:

1. Hugging Face `tokenizers` (Python), built the way SmolLM2's own
   tokenizer.json is (Digits(individual) then ByteLevel(GPT-2 regex) pre-
   tokenizer, byte-level BPE, the control tokens as special added tokens), from
   the vocabulary and merges that the `gguf` package reads out of the model file;
2. a plain-Python byte-level BPE written here (GPT-2 split with the `regex`
   package, merge ranks, special tokens matched first).

Run once from a venv outside the repository:
    python3 -m venv /work/venvs/tokref
    /work/venvs/tokref/bin/pip install tokenizers gguf regex numpy
    /work/venvs/tokref/bin/python bench/peers/make_gguf_tokenizer_reference.py \
        --gguf ../shared/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf \
        --out crates/steward-ml/tests/data/smollm2_tokenizer_reference.json
The texts are written for this test.
"""

import argparse
import json

import regex
from gguf import GGUFReader
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world!",
    "I'm sure they'll say it's fine; we've done it, haven't we?",
    "What is the capital of France?",
    "In 2024, 3.14159 and 1,000,000 were numbers; so was -42e10.",
    "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n",
    "def add(a, b):\n\treturn a + b  # tabs and trailing spaces   \n",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
    "<div class=\"post\"><p>Hi &amp; bye</p></div>",
    "std::vector<int> v{1, 2, 3}; auto it = v.begin();",
    "let x: Result<Vec<u8>, Box<dyn Error>> = Ok(vec![]);",
    "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\"}}",
    "https://example.com/path?query=1&other=two#fragment",
    "巴黎是法国的首都，也是欧洲最大的城市之一。",
    "我喜欢用 Rust 写代码，因为它很安全。",
    "日本語のテキストも少し。カタカナとひらがな。",
    "Привет, как дела? Всё хорошо.",
    "Ελληνικά και العربية και עברית",
    "Émojis: 🦀🚀🎉 and a family 👨‍👩‍👧 and flags 🇫🇷",
    "Café, naïve, résumé, Straße, œuvre.",
    "    four leading spaces",
    "trailing spaces    ",
    "a\n\n\nb\r\nc\rd",
    "\t\t\ttabs\t \t mixed",
    "          ",
    "\n",
    "multiple     internal      spaces",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>text after a special token",
    "CamelCaseIdentifier snake_case_identifier SCREAMING_CASE kebab-case",
    "0x1F 0b1010 1e-9 007 2^32",
    "!!! ??? ... --- *** ///",
]

BYTE_LEVEL_SPLIT = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


def bytes_to_unicode():
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(0xA1, 0xAC + 1))
        + list(range(0xAE, 0xFF + 1))
    )
    table = {}
    shifted = 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + shifted)
            shifted += 1
    return table


def read_gguf(path):
    reader = GGUFReader(path)

    def strings(name):
        field = reader.fields[name]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    def ints(name):
        field = reader.fields[name]
        return [int(field.parts[i][0]) for i in field.data]

    pre = bytes(reader.fields["tokenizer.ggml.pre"].parts[-1]).decode("utf-8")
    return strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges"), ints(
        "tokenizer.ggml.token_type"
    ), pre


class PlainBpe:
    def __init__(self, tokens, merges, specials):
        self.ids = {token: i for i, token in enumerate(tokens)}
        self.ranks = {tuple(merge.split(" ", 1)): rank for rank, merge in enumerate(merges)}
        self.specials = sorted(specials, key=len, reverse=True)
        self.byte_map = bytes_to_unicode()

    def bpe(self, word):
        parts = list(word)
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b)), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            pairs = [(rank, i) for rank, i in pairs if rank is not None]
            if not pairs:
                break
            _, i = min(pairs)
            parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2 :]
        return [self.ids[part] for part in parts]

    def encode_plain(self, text):
        ids = []
        # Digits(individual_digits=True): every digit is a piece of its own.
        for piece in regex.findall(r"\p{N}|[^\p{N}]+", text):
            for word in BYTE_LEVEL_SPLIT.findall(piece):
                mapped = "".join(self.byte_map[b] for b in word.encode("utf-8"))
                ids.extend(self.bpe(mapped))
        return ids

    def encode(self, text):
        ids = []
        rest = text
        while rest:
            hits = [(rest.find(s), -len(s), s) for s in self.specials if s in rest]
            if not hits:
                ids.extend(self.encode_plain(rest))
                break
            at, _, special = min(hits)
            ids.extend(self.encode_plain(rest[:at]))
            ids.append(self.ids[special])
            rest = rest[at + len(special) :]
        return ids


def hf_tokenizer(tokens, merges, specials):
    vocab = {token: i for i, token in enumerate(tokens)}
    pairs = [tuple(merge.split(" ", 1)) for merge in merges]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tokenizer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    tokens, merges, types, pre = read_gguf(args.gguf)
    assert pre == "smollm", f"this script knows SmolLM's split, the file says `{pre}`"
    specials = [token for token, kind in zip(tokens, types) if kind == 3]
    plain = PlainBpe(tokens, merges, specials)
    hf = hf_tokenizer(tokens, merges, specials)
    cases = []
    for text in TEXTS:
        ids = hf.encode(text, add_special_tokens=False).ids
        assert ids == plain.encode(text), f"the two references disagree on {text!r}"
        assert hf.decode(ids, skip_special_tokens=False) == text, text
        cases.append({"text": text, "ids": ids})
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(
            {
                "model": "SmolLM2-135M-Instruct",
                "made_by": "bench/peers/make_gguf_tokenizer_reference.py",
                "cases": cases,
            },
            out,
            ensure_ascii=False,
            indent=1,
        )
        out.write("\n")
    print(f"{len(cases)} texts written to {args.out}")


if __name__ == "__main__":
    main()
