"""Drives a running `steward serve` with OpenAI's official Python client, as
a user would: chat, streamed chat, JSON mode, embeddings (the client's default
base64 and explicit floats), the model list and an unknown model.

Run by crates/steward-cli/tests/openai_python.rs, which starts the server and
passes its URL and a key; prints one JSON object with what it saw, and fails
(non-zero exit, a traceback) on the first thing that is wrong.
"""

import array
import json
import math
import sys

import openai
from openai import OpenAI

base_url, api_key, chat_model, embed_model = sys.argv[1:5]
client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=300)
seen = {"openai_version": openai.__version__}

question = [{"role": "user", "content": "What is the capital of France?"}]
chat = client.chat.completions.create(model=chat_model, messages=question, max_tokens=12)
seen["chat"] = chat.choices[0].message.content
assert chat.model == chat_model, chat.model
assert chat.usage.completion_tokens > 0, chat.usage

pieces = []
for chunk in client.chat.completions.create(
    model=chat_model, messages=question, max_tokens=12, stream=True
):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
seen["stream_pieces"] = len(pieces)
assert "".join(pieces) == seen["chat"], (pieces, seen["chat"])

as_json = client.chat.completions.create(
    model=chat_model,
    messages=[{"role": "user", "content": "Describe a cat as a JSON object with the keys name and age."}],
    max_tokens=48,
    response_format={"type": "json_object"},
)
seen["json"] = json.loads(as_json.choices[0].message.content)
assert isinstance(seen["json"], dict), seen["json"]

texts = ["What is the capital of France?", "Paris is the capital of France."]
default = client.embeddings.create(model=embed_model, input=texts)
floats = client.embeddings.create(model=embed_model, input=texts, encoding_format="float")
assert len(default.data) == 2 and len(default.data[0].embedding) == 384
for a, b in zip(default.data, floats.data):
    # Base64 carries the f32 values exactly; JSON carries each f32's shortest
    # decimal, which Python reads as the nearest f64. Both round to the same f32.
    as_f32 = array.array("f", a.embedding), array.array("f", b.embedding)
    assert as_f32[0] == as_f32[1], "base64 and float vectors differ: max |d| = %g" % max(
        abs(x - y) for x, y in zip(*as_f32)
    )
    assert abs(math.sqrt(sum(x * x for x in a.embedding)) - 1.0) < 1e-3
seen["embedding_dims"] = len(default.data[0].embedding)

seen["models"] = sorted(model.id for model in client.models.list())

try:
    client.chat.completions.create(model="nope", messages=question, max_tokens=2)
    raise AssertionError("model `nope` was answered")
except openai.NotFoundError as error:
    seen["not_found"] = {"status": error.status_code, "code": error.code, "param": error.param}

print(json.dumps(seen))
