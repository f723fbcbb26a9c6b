"""The serving-performance suite: export to ONNX, check parity with PyTorch, time ONNX Runtime.

Per case (one prompt) it records three metrics the gates read like any other:
  onnx_parity    max |logit(ONNX) - logit(PyTorch)| over the prompt's real tokens; passes
                 when within the suite's tolerance
  latency_ms     median wall time of one forward pass over the prompt at batch size 1
                 (the time to the first token), after warm-up runs
  throughput     tokens per second when the prompt is run in a batch of ``batch_size``
                 (every case of a batch gets that batch's figure)

Latency is measured for the candidate and the baseline in the same process, alternating
case by case, so a gate can compare them as a ratio: absolute times depend on the machine,
the ratio far less. The CUDA provider of onnxruntime-gpu is used when a GPU is present.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from llmops_ci.errors import BadInput, ExternalFailure

METRIC_TYPES = {"OnnxParity": "onnx_parity", "Latency": "latency_ms", "Throughput": "throughput"}


def check_performance_metrics(specs: list[dict], display: str) -> None:
    from llmops_ci.schemacheck import suggest

    for i, spec in enumerate(specs):
        if spec["type"] not in METRIC_TYPES:
            raise BadInput(f"{display}: metrics[{i}].type: a performance suite measures {', '.join(METRIC_TYPES)}; "
                           f"got {spec['type']!r}{suggest(spec['type'], list(METRIC_TYPES))}")


def providers(choice: str = "auto") -> list[str]:
    """ONNX Runtime execution providers: CUDA first when asked for or available, CPU always."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if choice == "cpu":
        return ["CPUExecutionProvider"]
    if choice == "cuda" and "CUDAExecutionProvider" not in available:
        raise BadInput("performance.provider: cuda asked for, but this onnxruntime has no CUDAExecutionProvider "
                       "(install the gpu extra, onnxruntime-gpu, on a machine with a GPU)")
    cuda = ["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []
    return cuda + ["CPUExecutionProvider"]


class _LogitsOnly:
    """The causal LM as a function of (input_ids, attention_mask) -> logits, the graph ONNX serves."""

    def __new__(cls, model):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask):
                return self.m(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

        return Wrapped(model).eval()


def load_torch(model_dir: Path):
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir).eval()
    # Prompts longer than the model's context are cut from the left, as a server would.
    context = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    if context:
        tok.model_max_length = min(tok.model_max_length, context)
    tok.truncation_side = "left"
    return tok, model


def export_onnx(model_dir: Path, out: Path, opset: int = 18) -> Path:
    """``model_dir`` exported to ``out/model.onnx`` (kept: the export is the slow part)."""
    target = out / "model.onnx"
    if target.is_file():
        return target
    import logging
    import warnings

    import torch

    tok, model = load_torch(model_dir)
    enc = tok(["an example prompt to trace", "short"], return_tensors="pt", padding=True)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "model.onnx.partial"
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        try:
            # The dynamo exporter: the TorchScript one mis-traces transformers' attention masks.
            torch.onnx.export(_LogitsOnly(model), (enc["input_ids"], enc["attention_mask"]), str(tmp),
                              input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
                              opset_version=opset, dynamo=True, external_data=False, verbose=False)
        except Exception as exc:  # the exporter raises many types; the model is what failed
            raise ExternalFailure(f"{model_dir}: ONNX export failed ({type(exc).__name__}: {str(exc).splitlines()[0][:300]})") from None
    tmp.rename(target)
    return target


def session(onnx_path: Path, provider: str = "auto"):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(onnx_path), opts, providers=providers(provider))


def _feed(tok, texts: list[str]) -> dict:
    enc = tok(texts, return_tensors="np", padding=True, truncation=True, max_length=tok.model_max_length)
    return {"input_ids": enc["input_ids"].astype("int64"), "attention_mask": enc["attention_mask"].astype("int64")}


def parity(tok, model, sess, prompts: list[str]) -> list[float]:
    """Per prompt: the largest absolute logit difference between ONNX Runtime and PyTorch."""
    import numpy as np
    import torch

    wrapped = _LogitsOnly(model)
    diffs = []
    for text in prompts:
        feed = _feed(tok, [text])
        ort_logits = sess.run(["logits"], feed)[0]
        with torch.inference_mode():
            pt_logits = wrapped(torch.from_numpy(feed["input_ids"]), torch.from_numpy(feed["attention_mask"])).numpy()
        diffs.append(float(np.abs(ort_logits - pt_logits).max()))
    return diffs


def _time(sess, feed: dict, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        sess.run(["logits"], feed)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        sess.run(["logits"], feed)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def run_performance(suite, models: dict[str, Path], work: Path, progress=print) -> dict[str, dict]:
    """Measure every model in ``models`` (label -> directory) on the suite's prompts.

    Returns label -> results in the engine's shape (cases with per-metric score/passed,
    summary) plus ``performance`` details (provider, export paths).
    """
    from tqdm import tqdm

    from llmops_ci.evaluation.engine import render_prompts, summarize
    from llmops_ci.evaluation.suite import case_matches
    from llmops_ci.provenance import sha256_tree

    perf = suite.spec["performance"]
    prompts, _ = render_prompts(suite)
    if any(not isinstance(p, str) for p in prompts):
        raise BadInput(f"{suite.display}: prompt.chat: a performance suite times plain prompts (set chat: false)")
    measured: dict[str, dict] = {}
    for label, model_dir in models.items():
        digest = sha256_tree(model_dir)
        progress(f"evaluate: performance: exporting {label} to ONNX")
        onnx_path = export_onnx(model_dir, work / "onnx" / digest, perf["opset"])
        tok, model = load_torch(model_dir)
        sess = session(onnx_path, perf["provider"])
        measured[label] = {"tok": tok, "model": model, "sess": sess, "onnx": onnx_path, "hash": digest,
                           "provider": sess.get_providers()[0]}
        measured[label]["parity"] = parity(tok, model, sess, prompts)

    # Latency: models alternate case by case, so drift on a shared machine hits both alike.
    latency: dict[str, list[float]] = {label: [] for label in models}
    bar = tqdm(total=len(prompts) * len(models), desc="timing ONNX Runtime", unit="run", file=sys.stderr, mininterval=1.0)
    for text in prompts:
        for label, m in measured.items():
            latency[label].append(_time(m["sess"], _feed(m["tok"], [text]), perf["repeats"], perf["warmup"]))
            bar.update(1)
    bar.close()
    throughput: dict[str, list[float]] = {label: [0.0] * len(prompts) for label in models}
    size = perf["batch_size"]
    for start in range(0, len(prompts), size):
        for label, m in measured.items():
            feed = _feed(m["tok"], prompts[start:start + size])
            ms = _time(m["sess"], feed, perf["repeats"], perf["warmup"])
            tps = float(feed["attention_mask"].sum()) / (ms / 1000)
            for i in range(start, min(start + size, len(prompts))):
                throughput[label][i] = tps

    out = {}
    for label, m in measured.items():
        cases = []
        for i, (case, text) in enumerate(zip(suite.cases, prompts)):
            values = {"OnnxParity": (m["parity"][i], m["parity"][i] <= perf["tolerance"]),
                      "Latency": (latency[label][i], True), "Throughput": (throughput[label][i], True)}
            scored = {}
            for spec in suite.spec["metrics"]:
                if case_matches(case, spec.get("when")):
                    score, passed = values[spec["type"]]
                    reason = (f"max |logit difference| {score:.2e} vs tolerance {perf['tolerance']:g}"
                              if spec["type"] == "OnnxParity" else None)
                    scored[spec["name"]] = {"score": score, "passed": bool(passed), "reason": reason}
            fields = {k: v for k, v in case.items() if k not in ("input", "expected")}
            cases.append({"id": case["id"], "fields": fields, "input": text, "expected": None, "output": "",
                          "raw_output": "", "metrics": scored})
        out[label] = {"suite": suite.name, "eval_hash": suite.eval_hash(), "hash_parts": suite.hash_parts(),
                      "seed": suite.spec["seed"], "cases": cases, "summary": summarize(suite, cases),
                      "performance": {"provider": m["provider"], "onnx_path": str(m["onnx"]), "content_sha256": m["hash"],
                                      "latency_p50_ms": _quantile(latency[label], 0.5),
                                      "latency_p95_ms": _quantile(latency[label], 0.95),
                                      "throughput_tokens_per_s": statistics.fmean(throughput[label]),
                                      "max_logit_difference": max(m["parity"])}}
    return out


def _quantile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.quantile(np.asarray(values, dtype=float), q))
