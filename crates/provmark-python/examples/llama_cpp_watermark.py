"""Watermark SmolLM2 answers served by llama-cpp-python, then detect them with provmark.check.

    pip install crates/provmark-python "llama-cpp-python==0.3.36"   # builds llama.cpp (minutes)
    tools/fetch-model.sh                                            # models/SmolLM2-135M-Instruct.Q8_0.gguf
    provmark keygen --scheme green  --model models/SmolLM2-135M-Instruct.Q8_0.gguf --out green.json
    provmark keygen --scheme gumbel --model models/SmolLM2-135M-Instruct.Q8_0.gguf --out gumbel.json
    python crates/provmark-python/examples/llama_cpp_watermark.py \\
        --model models/SmolLM2-135M-Instruct.Q8_0.gguf --profile green.json --profile gumbel.json

llama-cpp-python calls each function of ``logits_processor=`` with ``(input_ids, scores)``: every
token id so far (prompt and answer, 1-D) and the next token's logits over the vocabulary (1-D
float32), and puts the returned scores back before its own sampler chain (top-k, top-p,
temperature, draw). The two schemes enter there differently:

* **green** (a bias): ``provmark.LogitsProcessor`` adds +delta to the green tokens of the context;
  llama.cpp's own sampler then draws from the biased distribution.
* **Gumbel** (a sampler): the keyed selection *replaces* the draw. The processor below truncates
  the distribution as llama.cpp's default chain would (top-k 40, min-p 0.05), computes provmark's
  choice from it (logits / temperature) and returns scores in which only that token is finite
  (every other is -inf), so whatever llama.cpp's chain does next (top-k, top-p, temperature, a
  random draw or greedy) it can only pick that token.

Each answer is detected alone from its text (re-tokenized, no ids kept), the answers of one
scheme pooled (their texts joined), and the same prompts answered without a processor are the
control. ``--json FILE`` writes every figure for tests.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import warnings

import numpy as np

import provmark

PROMPTS = [
    "Explain how earthquakes happen.",
    "Give me tips for reducing my grocery spending without eating poorly.",
    "What is an operating system, and what does it actually do?",
]


class GumbelChoice:
    """A llama-cpp-python logits processor that makes provmark's Gumbel choice the only
    candidate: the returned scores are -inf everywhere except at the chosen token."""

    def __init__(self, profile: provmark.Profile, temperature: float, seed: int, account=None,
                 top_k: int = 40, min_p: float = 0.05):
        self.sampler = provmark.Sampler(profile, account=account)
        self.temperature = temperature
        self.top_k = top_k
        self.min_p = min_p
        self.rng = random.Random(seed)  # seeds the draw of repeated contexts (not watermarked)

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        logits = np.asarray(scores, dtype=np.float32)
        # llama.cpp's default truncation (top-k, then min-p relative to the most likely token).
        if 0 < self.top_k < logits.size:
            kth = np.partition(logits, -self.top_k)[-self.top_k]
            logits = np.where(logits >= kth, logits, -np.inf)
        if self.min_p > 0:
            logits = np.where(logits >= logits.max() + np.log(self.min_p), logits, -np.inf)
        logits = (logits / np.float32(self.temperature)).astype(np.float32)
        token = int(self.sampler.choose(input_ids, logits, seed=self.rng.getrandbits(64))[0])
        out = np.full_like(scores, -np.inf)
        out[token] = 0.0
        return out


def answer(llm, prompt: str, processor, temperature: float, max_tokens: int, seed: int) -> str:
    from llama_cpp import LogitsProcessorList

    llm.set_seed(seed)
    r = llm.create_chat_completion(
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        logits_processor=None if processor is None else LogitsProcessorList([processor]),
    )
    return r["choices"][0]["message"]["content"]


def processor_for(profile: provmark.Profile, temperature: float, seed: int):
    if profile.scheme == "green":
        return provmark.LogitsProcessor(profile)
    if profile.scheme == "gumbel":
        return GumbelChoice(profile, temperature, seed)
    raise SystemExit(f"scheme {profile.scheme}: this example covers green and gumbel")


def summary(report: dict) -> dict:
    return {k: report.get(k) for k in ("verdict", "p_value", "log10_p", "scored_tokens", "total_tokens")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="SmolLM2 GGUF file")
    ap.add_argument("--profile", action="append", required=True, help="a green or gumbel profile (repeatable)")
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--prompts", type=int, default=len(PROMPTS), help="how many of the built-in prompts")
    ap.add_argument("--threads", type=int, default=2,
                    help="llama.cpp threads (its workers spin-wait: use 1 on a busy machine)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write every figure to this file")
    args = ap.parse_args(argv)

    from llama_cpp import Llama

    llm = Llama(model_path=args.model, n_ctx=1024, n_threads=args.threads, seed=args.seed, verbose=False)
    results = {"temperature": args.temperature, "max_tokens": args.max_tokens, "profiles": []}
    for path in args.profile:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a profile readable by others, in a test folder
            profile = provmark.Profile.load(path)
        if profile.vocab_size != llm.n_vocab():
            raise SystemExit(f"{path}: a profile for {profile.vocab_size} tokens, the model has {llm.n_vocab()}")
        entry = {"profile": path, "scheme": profile.scheme, "watermarked": [], "clean": []}
        for kind in ("watermarked", "clean"):
            texts = []
            for i, prompt in enumerate(PROMPTS[: args.prompts]):
                seed = args.seed * 1000 + i
                proc = processor_for(profile, args.temperature, seed) if kind == "watermarked" else None
                text = answer(llm, prompt, proc, args.temperature, args.max_tokens, seed)
                texts.append(text)
                r = summary(provmark.check(text=text, profile=profile))
                r["prompt"] = prompt
                r["text"] = text
                entry[kind].append(r)
                print(f"{profile.scheme:6} {kind:11} p={r['p_value']:.3g} over {r['scored_tokens']} tokens: "
                      f"{prompt[:48]!r}", file=sys.stderr)
            pooled = summary(provmark.check(text="\n\n".join(texts), profile=profile))
            entry[f"{kind}_pooled"] = pooled
            print(f"{profile.scheme:6} {kind:11} pooled: {pooled['verdict']} p={pooled['p_value']:.3g} "
                  f"over {pooled['scored_tokens']} tokens", file=sys.stderr)
        results["profiles"].append(entry)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
