"""Batched, deterministic generation with an on-disk response cache.

The cache key is (model content hash, prompt, decoding parameters): a re-run
of an unchanged model on an unchanged suite makes no model call, and does not
even load the model. ``Generator.stats`` counts loads and model calls.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path


def cache_key(model_hash: str, prompt: str, decoding: dict) -> str:
    blob = json.dumps([model_hash, prompt, decoding], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """A sqlite file of responses; safe for several processes (sqlite locking)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=60)
        self.db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, output TEXT NOT NULL)")
        self.db.commit()

    def get_many(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = self.db.execute(f"SELECT key, output FROM responses WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update(dict(rows.fetchall()))
        return found

    def put_many(self, items: dict[str, str]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO responses (key, output) VALUES (?, ?)", list(items.items()))
        self.db.commit()

    def close(self) -> None:
        self.db.close()


@dataclass
class GenerationStats:
    model_loads: int = 0
    generated: int = 0  # prompts sent to the model
    cached: int = 0  # prompts answered from the cache
    batches: int = 0
    seconds: float = 0.0
    loaded: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"model_loads": self.model_loads, "generated": self.generated, "cached": self.cached,
                "batches": self.batches, "seconds": round(self.seconds, 3)}


class Generator:
    """Generates answers for prompts with one model; loads it only on a cache miss."""

    def __init__(self, model_dir: Path, model_hash: str, kind: str, cache: ResponseCache | None,
                 batch_size: int = 16, progress: bool = True, label: str = "model"):
        self.model_dir = Path(model_dir)
        self.model_hash = model_hash
        self.kind = kind
        self.cache = cache
        self.batch_size = batch_size
        self.progress = progress
        self.label = label
        self.stats = GenerationStats()
        self._model = None
        self._tokenizer = None

    # -- model -----------------------------------------------------------------
    def _load(self):
        if self._model is not None:
            return
        import torch
        import transformers

        self.stats.model_loads += 1
        self.stats.loaded.append(str(self.model_dir))
        tok = transformers.AutoTokenizer.from_pretrained(self.model_dir)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"  # decoder-only generation continues from the right edge
        if self.kind == "classifier":
            model = transformers.AutoModelForSequenceClassification.from_pretrained(self.model_dir)
        elif self.kind == "seq2seq":
            model = transformers.AutoModelForSeq2SeqLM.from_pretrained(self.model_dir)
        else:
            model = transformers.AutoModelForCausalLM.from_pretrained(self.model_dir)
        model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
        self._model, self._tokenizer = model, tok

    def render(self, prompt) -> str:
        """The text fed to the model: a string, or chat messages through the chat template."""
        if isinstance(prompt, str):
            return prompt
        self._load()
        return self._tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def _generate_batch(self, prompts: list, decoding: dict) -> list[str]:
        import torch

        self._load()
        texts = [self.render(p) for p in prompts]
        tok, model = self._tokenizer, self._model
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            if self.kind == "classifier":
                logits = model(**enc).logits
                ids = logits.argmax(-1).tolist()
                return [model.config.id2label[i] for i in ids]
            out = model.generate(**enc, max_new_tokens=decoding["max_new_tokens"], do_sample=False, num_beams=1,
                                 pad_token_id=tok.pad_token_id)
        if self.kind == "seq2seq":
            return tok.batch_decode(out, skip_special_tokens=True)
        return tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    # -- the public call ---------------------------------------------------------
    def generate(self, prompts: list, decoding: dict) -> list[str]:
        """Answers for ``prompts`` (strings or chat message lists), from cache where possible."""
        import time

        keys = [cache_key(self.model_hash, json.dumps(p, sort_keys=True, ensure_ascii=False), decoding) for p in prompts]
        found = self.cache.get_many(keys) if self.cache else {}
        self.stats.cached += sum(1 for k in keys if k in found)
        todo = sorted({k: i for i, k in enumerate(keys) if k not in found}.values())
        if todo:
            from tqdm import tqdm

            started = time.perf_counter()
            # Batches of similar length waste less padding; the order of results is restored below.
            todo.sort(key=lambda i: len(json.dumps(prompts[i])))
            bar = tqdm(total=len(todo), desc=f"generating ({self.label})", unit="case", file=sys.stderr,
                       disable=not self.progress, mininterval=1.0)
            fresh: dict[str, str] = {}
            for start in range(0, len(todo), self.batch_size):
                batch = todo[start:start + self.batch_size]
                outputs = self._generate_batch([prompts[i] for i in batch], decoding)
                for i, out in zip(batch, outputs):
                    fresh[keys[i]] = out
                self.stats.batches += 1
                bar.update(len(batch))
            bar.close()
            self.stats.generated += len(todo)
            self.stats.seconds += time.perf_counter() - started
            if self.cache:
                self.cache.put_many(fresh)
            found.update(fresh)
        return [apply_stop(found[k], decoding.get("stop") or []) for k in keys]


def apply_stop(text: str, stops: list[str]) -> str:
    cut = len(text)
    for s in stops:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]
