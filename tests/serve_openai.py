"""Drives `provmark serve` with the official `openai` Python client (run by tests/serve.rs).

Environment: PROVMARK_BASE_URL (http://127.0.0.1:PORT/v1), PROVMARK_MODEL_ID, OPENAI_API_KEY (a
valid key; never on the command line). Prints one JSON object of results; exits non-zero on the
first failed expectation.
"""
import json
import os
import sys

import openai

base = os.environ["PROVMARK_BASE_URL"]
model = os.environ["PROVMARK_MODEL_ID"]
client = openai.OpenAI(base_url=base, max_retries=0, timeout=300)
out = {}

ids = [m.id for m in client.models.list().data]
assert ids == [model], ids

msgs = [{"role": "user", "content": "How do I make tea?"}]
a = client.chat.completions.create(model=model, messages=msgs, max_tokens=40, seed=7, temperature=1.0)
assert a.object == "chat.completion", a
assert a.choices[0].message.role == "assistant"
assert a.choices[0].message.content, a
assert a.choices[0].finish_reason in ("stop", "length"), a
assert a.usage.completion_tokens > 0 and a.usage.prompt_tokens > 0, a.usage
assert a.usage.total_tokens == a.usage.prompt_tokens + a.usage.completion_tokens
b = client.chat.completions.create(model=model, messages=msgs, max_tokens=40, seed=7, temperature=1.0)
assert b.choices[0].message.content == a.choices[0].message.content, "same seed, same answer"
out["answer"] = a.choices[0].message.content

# Streaming, with usage in the last chunk.
pieces, finish, usage = [], None, None
stream = client.chat.completions.create(
    model=model, messages=msgs, max_tokens=40, seed=7, temperature=1.0, stream=True,
    stream_options={"include_usage": True})
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for c in chunk.choices:
        if c.delta.content:
            pieces.append(c.delta.content)
        if c.finish_reason:
            finish = c.finish_reason
assert "".join(pieces) == out["answer"], ("streamed text differs", "".join(pieces), out["answer"])
assert finish in ("stop", "length") and usage is not None and usage.completion_tokens > 0
out["stream_pieces"] = len(pieces)

# A stop sequence ends the answer before it.
s = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "List three fruits, one per line."}],
                                   max_tokens=60, seed=3, temperature=0.7, stop=["\n"])
assert "\n" not in s.choices[0].message.content, s

# Errors arrive as the client's typed exceptions.
try:
    openai.OpenAI(base_url=base, api_key="pmk-" + "0" * 64, max_retries=0).models.list()
    raise AssertionError("a bad key was accepted")
except openai.AuthenticationError as e:
    assert e.status_code == 401 and e.code == "invalid_api_key", e
try:
    client.chat.completions.create(model=model, messages=msgs, n=2)
    raise AssertionError("n = 2 was accepted")
except openai.BadRequestError as e:
    assert e.status_code == 400 and e.param == "n", e
try:
    client.chat.completions.create(model="gpt-4o", messages=msgs)
    raise AssertionError("an unknown model was accepted")
except openai.NotFoundError as e:
    assert e.code == "model_not_found", e

# The client goes away mid-stream: the server ends that answer and keeps serving.
stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Write a long story about a dragon."}],
                                        max_tokens=400, temperature=1.0, seed=11, stream=True)
seen = 0
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        seen += 1
    if seen >= 3:
        break
stream.close()
after = client.chat.completions.create(model=model, messages=msgs, max_tokens=5, seed=1)
assert after.choices[0].message.content is not None
out["ok"] = True
print(json.dumps(out))
