"""The evaluation engine's cost over a plain batched `generate` loop, and the cached re-run.

Three timings on the same model, the same 200 prompts and the same batch size:
  hand     a hand-written loop: load tokenizer and model, left-pad, `model.generate` per batch
  engine   `run_suite` (render prompts, cached generation, DeepEval scoring, slice summaries)
           with an empty response cache
  cached   `run_suite` again with a fresh Generator on the same cache (no model calls)

Ratios: engine / hand (overhead of the engine) and cached / engine (what a re-run costs).

Run: python benchmarks/bench_evaluate.py [--model DIR] [--cases 200] [--batch-size 16] [--repeat 3]
Without --model a tiny GPT-2 is built from the example's data (untrained: timing only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def build_model(dest: Path) -> Path:
    from llmops_ci.training.presets import build_preset

    texts = [json.loads(line)["prompt"] + json.loads(line)["completion"]
             for line in (REPO / "examples" / "data" / "train.jsonl").read_text().splitlines() if line.strip()]
    tokenizer, model = build_preset("tiny-gpt2", texts, 64, seed=0)
    tokenizer.save_pretrained(dest)
    model.save_pretrained(dest)
    return dest


def build_suite(dest: Path, n: int) -> Path:
    cases = []
    for name in ("medical", "finance", "multilingual", "safety"):
        for line in (REPO / "domain_suites" / name / "cases.jsonl").read_text().splitlines():
            if line.strip() and len(cases) < n:
                c = json.loads(line)
                cases.append({"id": f"{name}-{c['id']}", "input": c["input"], "expected": c.get("expected", ""),
                              "category": name})
    if len(cases) < n:
        raise SystemExit(f"only {len(cases)} cases available")
    dest.mkdir(parents=True)
    (dest / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    (dest / "suite.yaml").write_text(
        "name: bench\nprompt: {template: '{{ input }}'}\ngeneration: {max_new_tokens: 32}\n"
        "metrics:\n  - {name: exact, type: ExactMatchMetric}\n"
        "  - {name: emergency, type: PatternMatchMetric, args: {pattern: '(?i).*emergency.*'}}\n"
        "slices: [category]\n")
    return dest


def hand_loop(model_dir: Path, prompts: list[str], batch_size: int, max_new_tokens: int) -> list[str]:
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    tok.pad_token = tok.pad_token or tok.eos_token
    tok.padding_side = "left"
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir).eval()
    out = []
    for start in range(0, len(prompts), batch_size):
        enc = tok(prompts[start:start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                 pad_token_id=tok.pad_token_id)
        out += tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    from llmops_ci.evaluation.engine import run_suite
    from llmops_ci.evaluation.generation import Generator, ResponseCache
    from llmops_ci.evaluation.suite import load_suite
    from llmops_ci.provenance import sha256_tree

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = args.model or build_model(tmp / "model")
        suite = load_suite(str(build_suite(tmp / "suite", args.cases)))
        prompts = [c["input"] for c in suite.cases]
        model_hash = sha256_tree(model_dir)
        max_new = suite.spec["generation"]["max_new_tokens"]

        hand, engine, cached = [], [], []
        for r in range(args.repeat):
            t = time.perf_counter()
            hand_loop(model_dir, prompts, args.batch_size, max_new)
            hand.append(time.perf_counter() - t)

            cache = ResponseCache(tmp / f"cache-{r}.sqlite")
            t = time.perf_counter()
            first = run_suite(suite, Generator(model_dir, model_hash, "causal-lm", cache, args.batch_size, progress=False))
            engine.append(time.perf_counter() - t)

            again = Generator(model_dir, model_hash, "causal-lm", cache, args.batch_size, progress=False)
            t = time.perf_counter()
            second = run_suite(suite, again)
            cached.append(time.perf_counter() - t)
            assert again.stats.generated == 0 and second["summary"] == first["summary"]
            cache.close()

    h, e, c = (statistics.median(x) for x in (hand, engine, cached))
    print(f"{args.cases} cases, batch size {args.batch_size}, median of {args.repeat}")
    print(f"hand-written batched generate loop  {h:7.2f} s")
    print(f"engine, empty cache                 {e:7.2f} s   ratio to hand loop {e / h:.2f}x")
    print(f"engine, cached re-run               {c:7.2f} s   ratio to first run {c / e:.3f}x")


if __name__ == "__main__":
    main()
