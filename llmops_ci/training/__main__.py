"""Training entry point: ``python -m llmops_ci.training --config llmops.yaml --output-dir DIR``.

This is the `run:` of the finetune task, the same on this machine and in a
SkyPilot managed job. Exit codes follow the CLI's (2 bad input, 3 outside failure).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _log(message: str) -> None:
    print(f"[llmops-ci train] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmops_ci.training", description=__doc__)
    parser.add_argument("--config", default=os.environ.get("LLMOPS_CONFIG", "llmops.yaml"))
    parser.add_argument("--output-dir", default=os.environ.get("LLMOPS_OUTPUT_DIR"),
                        help="checkpoints, final model and result.json (default: training.output_dir)")
    parser.add_argument("--train", action="append", help="training file, overriding data.train (repeatable)")
    parser.add_argument("--eval", action="append", help="evaluation file, overriding data.eval (repeatable)")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                        help="MLflow tracking URI for params and metrics (default: registry.tracking_uri)")
    parser.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    args = parser.parse_args(argv)

    from llmops_ci.config import load_config
    from llmops_ci.errors import LlmopsError
    from llmops_ci.secrets import redact

    try:
        config = load_config(args.config)
        from llmops_ci.training.data import load_split, read_examples

        kind, fmt = config.data["model"]["kind"], config.data["data"]["format"]
        train_ex = ([e for f in args.train for e in read_examples(Path(f), f, fmt, kind)] if args.train
                    else load_split(config, "train"))
        eval_ex = ([e for f in args.eval for e in read_examples(Path(f), f, fmt, kind)] if args.eval
                   else load_split(config, "eval"))
        if config.data["training"].get("domain_adaptation"):
            from llmops_ci.training.data import adapt_to_domains

            train_ex = adapt_to_domains(train_ex, config.root, config.display)
            eval_ex = adapt_to_domains(eval_ex, config.root, config.display)
        output_dir = Path(args.output_dir) if args.output_dir else config.resolve(config.data["training"]["output_dir"])
        output_dir.mkdir(parents=True, exist_ok=True)
        _log(f"{len(train_ex)} training and {len(eval_ex)} evaluation examples; output {output_dir}")

        tracker = None
        if not args.no_tracking:
            from llmops_ci.registry.tracking import TrackedRun

            uri = args.tracking_uri or config.tracking_uri
            artifact_root = config.root / ".llmops" / "artifacts" if uri.startswith("sqlite:") else None
            tracker = TrackedRun(uri, config.experiment, f"finetune-{os.environ.get('LLMOPS_RUN_ID', 'local')[:8]}",
                                 tags={"llmops.stage": "finetune", "llmops.run_id": os.environ.get("LLMOPS_RUN_ID", ""),
                                       "llmops.config_sha256": config.sha256}, artifact_root=artifact_root)
        from llmops_ci.training.trainer import train

        try:
            result = train(config, train_ex, eval_ex, output_dir, tracker=tracker, log=_log)
        except BaseException:
            if tracker is not None:
                tracker.finish("FAILED")
            raise
        if tracker is not None:
            tracker.log_metrics({"final_train_loss": result["train_loss"] or 0.0}, step=result["global_step"])
            if os.environ.get("LLMOPS_UPLOAD_TO_MLFLOW") == "1":
                # A cloud job's disk goes away with it: the model travels through MLflow.
                _log("uploading the model to MLflow")
                result["model_uri"] = tracker.log_artifacts(result["model_dir"], "model")
            tracker.finish()
            result["mlflow_run_id"] = tracker.run_id
            import json

            (output_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        return 0
    except LlmopsError as exc:
        for line in exc.lines:
            print(redact(line), file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
