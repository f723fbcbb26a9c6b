"""Fine-tune with the Hugging Face Trainer: full or LoRA, seeded, checkpointed, resumable.

Output layout (``training.output_dir``, or the job's output location):
  checkpoints/checkpoint-N/   Trainer checkpoints; a rerun resumes from the last complete one
  final/                      the model + tokenizer, ready for `llmops-ci register`
  result.json                 what the finetune stage records (loss history, steps, paths)
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path

from llmops_ci.errors import BadInput
from llmops_ci.training.data import Example

IGNORE = -100


def last_complete_checkpoint(folder: Path) -> Path | None:
    """Newest checkpoint whose save finished (trainer_state.json is written last)."""
    if not folder.is_dir():
        return None
    found = []
    for child in folder.iterdir():
        m = re.fullmatch(r"checkpoint-(\d+)", child.name)
        if m and (child / "trainer_state.json").is_file():
            found.append((int(m.group(1)), child))
    return max(found)[1] if found else None


def fingerprint(config, examples: list[Example]) -> str:
    """What a checkpoint was trained on: the effective config and every example."""
    import hashlib

    digest = hashlib.sha256(config.sha256.encode())
    for ex in examples:
        digest.update(json.dumps([ex.prompt, ex.completion, ex.messages, ex.label], sort_keys=True).encode())
    return digest.hexdigest()


def _forget_stale_checkpoints(output_dir: Path, current: str, log) -> None:
    """Resume only what was trained on the same config and data; otherwise start fresh."""
    import shutil

    marker = output_dir / "fingerprint.txt"
    if marker.is_file() and marker.read_text().strip() != current:
        log("training config or data changed since the last checkpoint: starting from scratch")
        shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)
        shutil.rmtree(output_dir / "final", ignore_errors=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(current + "\n")


def example_texts(examples: list[Example], tokenizer=None) -> list[tuple[str, str]]:
    """(prompt, completion) pairs; chat records go through the tokenizer's chat template."""
    pairs = []
    for ex in examples:
        if ex.messages is not None:
            if tokenizer is None:
                pairs.append(("".join(m["content"] for m in ex.messages[:-1]), ex.messages[-1]["content"]))
                continue
            prompt = tokenizer.apply_chat_template(ex.messages[:-1], tokenize=False, add_generation_prompt=True)
            pairs.append((prompt, ex.messages[-1]["content"]))
        else:
            pairs.append((ex.prompt, ex.completion))
    return pairs


def load_base(config, examples: list[Example]):
    """(tokenizer, model) to start from: a preset, a local folder or a hub id."""
    base = config.data["model"]["base"]
    kind = config.data["model"]["kind"]
    seed = config.data["training"]["seed"]
    max_length = config.data["training"]["max_length"]
    if base.startswith("builtin:"):
        if kind != "causal-lm":
            raise BadInput(f"{config.display}: model.base: {base} is a causal LM preset (model.kind must be causal-lm)")
        from llmops_ci.training.presets import build_preset

        texts = [p + c for p, c in example_texts(examples)]
        return build_preset(base.split(":", 1)[1], texts, max_length, seed)
    import transformers

    source = str(config.resolve(base)) if config.resolve(base).is_dir() else base
    revision = config.data["model"].get("revision")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, revision=revision)
        if kind == "classifier":
            labels = sorted({ex.label for ex in examples})
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                source, revision=revision, num_labels=len(labels),
                id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
        elif kind == "seq2seq":
            model = transformers.AutoModelForSeq2SeqLM.from_pretrained(source, revision=revision)
        else:
            model = transformers.AutoModelForCausalLM.from_pretrained(source, revision=revision)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInput(f"{config.display}: model.base: cannot load {base!r} as a {kind} model ({first})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


class CausalLMDataset:
    """Tokenised prompt+completion; loss only on the completion (the prompt is context)."""

    def __init__(self, pairs: list[tuple[str, str]], tokenizer, max_length: int):
        self.items = []
        eos = tokenizer.eos_token or ""
        for prompt, completion in pairs:
            p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            c_ids = tokenizer(completion + eos, add_special_tokens=False)["input_ids"]
            ids = (p_ids + c_ids)[:max_length]
            labels = ([IGNORE] * len(p_ids) + c_ids)[:max_length]
            self.items.append({"input_ids": ids, "labels": labels})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class ClassifierDataset:
    def __init__(self, examples: list[Example], tokenizer, max_length: int, label2id: dict):
        self.items = []
        for ex in examples:
            enc = tokenizer(ex.prompt, truncation=True, max_length=max_length)
            self.items.append({"input_ids": enc["input_ids"], "labels": label2id[ex.label]})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def make_collator(pad_id: int):
    import torch

    def collate(batch):
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        seq_labels = isinstance(batch[0]["labels"], list)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long) if seq_labels else torch.tensor(
            [b["labels"] for b in batch], dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            mask[i, :n] = 1
            if seq_labels:
                labels[i, :n] = torch.tensor(b["labels"])
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    return collate


def train(config, train_examples: list[Example], eval_examples: list[Example], output_dir: Path,
          tracker=None, log=print) -> dict:
    """Train, save ``final/`` and ``result.json`` under ``output_dir``; return the result."""
    import torch
    import transformers
    from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    t = config.data["training"]
    kind = config.data["model"]["kind"]
    transformers.set_seed(t["seed"])
    tokenizer, model = load_base(config, train_examples)
    if kind == "classifier":
        label2id = model.config.label2id
        train_ds = ClassifierDataset(train_examples, tokenizer, t["max_length"], label2id)
        eval_ds = ClassifierDataset(eval_examples, tokenizer, t["max_length"], label2id) if eval_examples else None
    else:
        train_ds = CausalLMDataset(example_texts(train_examples, tokenizer), tokenizer, t["max_length"])
        eval_ds = CausalLMDataset(example_texts(eval_examples, tokenizer), tokenizer, t["max_length"]) if eval_examples else None

    if t["recipe"] == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        lora = t["lora"]
        task_type = {"classifier": TaskType.SEQ_CLS, "seq2seq": TaskType.SEQ_2_SEQ_LM}.get(kind, TaskType.CAUSAL_LM)
        model = get_peft_model(model, LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                                                 target_modules=lora.get("target_modules"), task_type=task_type))

    checkpoints = output_dir / "checkpoints"
    _forget_stale_checkpoints(output_dir, fingerprint(config, train_examples), log)
    resume = last_complete_checkpoint(checkpoints)
    resumed_from = int(resume.name.split("-")[1]) if resume else 0
    if resume:
        log(f"resuming from {resume} (step {resumed_from})")
    args = TrainingArguments(
        output_dir=str(checkpoints), num_train_epochs=t["epochs"], max_steps=t["max_steps"],
        learning_rate=t["learning_rate"], per_device_train_batch_size=t["batch_size"],
        per_device_eval_batch_size=t["batch_size"], gradient_accumulation_steps=t["gradient_accumulation_steps"],
        save_strategy="steps", save_steps=t["save_steps"], save_total_limit=2, logging_steps=t["logging_steps"],
        eval_strategy="epoch" if eval_ds else "no", seed=t["seed"], data_seed=t["seed"], report_to=[],
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, disable_tqdm=not sys.stderr.isatty(),
        lr_scheduler_type="linear", warmup_steps=0, save_only_model=False,
    )
    history: list[dict] = []

    class Progress(TrainerCallback):
        """Loss lines in the CI log and metrics in MLflow as they come."""

        def __init__(self):
            self.started = time.monotonic()

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = dict(logs or {})
            entry = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, (int, float))}}
            history.append(entry)
            if tracker is not None:
                tracker.log_metrics({k: v for k, v in entry.items() if k != "step"}, step=state.global_step)
            if "loss" in logs or "eval_loss" in logs:
                pct = 100.0 * state.global_step / max(state.max_steps, 1)
                shown = ", ".join(f"{k} {logs[k]:.4f}" for k in ("loss", "eval_loss") if k in logs)
                log(f"step {state.global_step}/{state.max_steps} ({pct:.0f}%) {shown} "
                    f"[{time.monotonic() - self.started:.0f}s]")

    trainer = Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                      data_collator=make_collator(tokenizer.pad_token_id), callbacks=[Progress()])
    trainer.remove_callback(PrinterCallback)  # Progress prints the same, once, in one format
    if tracker is not None:
        tracker.log_params({"recipe": t["recipe"], "seed": t["seed"], "epochs": t["epochs"], "max_steps": t["max_steps"],
                            "learning_rate": t["learning_rate"], "batch_size": t["batch_size"],
                            "max_length": t["max_length"], "base_model": config.data["model"]["base"],
                            "train_examples": len(train_ds), "resumed_from_step": resumed_from})
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)

    final = output_dir / "final"
    if t["recipe"] == "lora":
        model = trainer.model.merge_and_unload()  # a plain model: registrable, exportable, no peft at serving
    else:
        model = trainer.model
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    losses = [h["loss"] for h in history if "loss" in h]
    result = {
        "model_dir": str(final.resolve()),
        "global_step": trainer.state.global_step,
        "resumed_from_step": resumed_from,
        "train_loss": output.training_loss if not math.isnan(output.training_loss) else None,
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "loss_history": history,
        "train_examples": len(train_ds),
        "recipe": t["recipe"],
        "seed": t["seed"],
    }
    (output_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    log(f"saved model to {final} after {result['global_step']} steps (last loss {result['last_logged_loss']})")
    return result

