"""A generated JSONL corpus for the Spark scan tests and figures: records of random words from
the demo corpus's vocabulary (about one o200k token per word), with every kind of skipped record
mixed in, split over several files of a folder."""

import json
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEMO = ROOT / "testdata" / "demo"


def vocabulary() -> list:
    words = set()
    for name in ("suspect.jsonl", "control.jsonl"):
        for line in (DEMO / name).read_text().splitlines():
            words.update(json.loads(line)["text"].split())
    return sorted(words)


def write_corpus(folder: pathlib.Path, words_total: int, files: int = 3, seed: int = 7) -> pathlib.Path:
    """Writes about `words_total` words of records into `files` JSONL files under `folder`
    (file names that sort by path components, not as strings); returns the folder."""
    rng = np.random.default_rng(seed)
    vocab = np.array(vocabulary(), dtype=object)
    folder.mkdir(parents=True, exist_ok=True)
    names = ["part-a.jsonl", "part-a/b.jsonl", "part-a.b.jsonl", "part-b.jsonl.gz"][:files]
    per_file = words_total // len(names)
    for fi, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        written = 0
        k = 0
        while written < per_file:
            k += 1
            n = int(rng.integers(1, 400))
            # A Zipf-like choice: frequent words repeat pairs across records (the dedup matters).
            idx = np.minimum(rng.zipf(1.3, n) - 1, len(vocab) - 1)
            text = " ".join(vocab[idx])
            written += n
            r = k % 97
            if r == 1:
                lines.append("{not json")
            elif r == 2:
                lines.append(json.dumps({"other": text}))
            elif r == 3:
                lines.append(json.dumps({"text": 42}))
            elif r == 4:
                lines.append("   \t")  # blank: not a record
            elif r == 5:
                lines.append(json.dumps({"text": "   "}))
            elif r == 6:
                lines.append(json.dumps({"text": "two words"}))
            else:
                lines.append(json.dumps({"id": f"{fi}-{k}", "text": text, "prompt": " ".join(vocab[idx[:5]])}))
        data = ("\n".join(lines) + "\n").encode()
        if name.endswith(".gz"):
            import gzip

            data = gzip.compress(data, compresslevel=1)
        path.write_bytes(data)
    return folder
