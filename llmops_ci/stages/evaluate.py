"""``llmops-ci evaluate``: run the suites on the candidate, judge the gates, write every report.

Baseline results are reused from MLflow when the baseline model and the
evaluation hash are unchanged, so the production model is loaded only when
its stored results are missing or were computed under another hash.
"""

from __future__ import annotations

from pathlib import Path

from llmops_ci.config import load_config
from llmops_ci.errors import BadInput, VerdictNo
from llmops_ci.provenance import sha256_tree
from llmops_ci.run_record import RunRecord, now, record_path


def list_suites() -> list[dict]:
    from llmops_ci.evaluation.suite import installed_suites, load_suite

    out = []
    for name, folder in installed_suites():
        suite = load_suite(str(folder))
        out.append({"name": name, "cases": len(suite.cases), "metrics": suite.metric_names,
                    "description": suite.spec.get("description", "").strip().splitlines()[0] if suite.spec.get("description") else ""})
    return out


def _candidate_source(config, model: str | None, record: RunRecord | None) -> str:
    if model:
        return model
    if record is not None:
        st = record.stage("finetune")
        if st and st.get("status") == "succeeded":
            from llmops_ci.run_record import recorded_model

            return recorded_model(config, st["result"])
    return f"models:/{config.model_name}@candidate"


def _metrics_flat(result: dict) -> dict[str, float]:
    flat = {}
    for metric, groups in result["summary"].items():
        for key, v in groups.items():
            tag = "" if key == "all" else "." + key.replace("=", "_")
            if v["pass_rate"] is not None:
                flat[f"{result['suite']}.{metric}{tag}.pass_rate"] = v["pass_rate"]
                flat[f"{result['suite']}.{metric}{tag}.mean"] = v["mean"]
    return flat


def _load_baseline_results(path: str) -> dict:
    """Per-suite results of a baseline from an earlier run's results.json (checked against its schema)."""
    from llmops_ci.evaluation.report import read_results

    data = read_results(path, "baseline results", "pass the results.json of an earlier evaluate",
                        "the results.json of an earlier llmops-ci evaluate")
    return {name: {**dom, "cases": dom["cases_detail"]} for name, dom in data["domains"].items()}


def refuse_if_incomparable(suite, stored: dict, source: str) -> None:
    if stored.get("eval_hash") == suite.eval_hash():
        return
    ours, theirs = suite.hash_parts(), stored.get("hash_parts") or {}
    differs = [k for k in ours if ours[k] != theirs.get(k)] or ["(unknown: no per-part hashes stored)"]
    raise BadInput(f"{source}: suite {suite.name}: baseline results were computed under evaluation hash "
                   f"{str(stored.get('eval_hash'))[:12]}, this evaluation is {suite.eval_hash()[:12]} "
                   f"(differs in: {', '.join(differs)}); comparing them would mislead, so it is refused "
                   "(re-evaluate the baseline with the current suite)")


def run_evaluate(config_path: str | None, model: str | None = None, suites: list[str] | None = None,
                 baseline_alias: str | None = None, baseline_results: str | None = None,
                 report_dir: str | None = None, run_record: str | None = None, tracking_uri: str | None = None,
                 progress=print) -> dict:
    from llmops_ci.evaluation import gates as gate_lib
    from llmops_ci.evaluation.suite import judge_id
    from llmops_ci.evaluation.suite import load_suite

    config = load_config(config_path)
    ev = config.data.get("evaluation", {})
    names = suites or ev.get("suites") or []
    if not names:
        raise BadInput(f"{config.display}: evaluation.suites: no suites to run (set evaluation.suites or pass --suite NAME)")
    extras = {"judge": judge_id(ev.get("judge"))}
    loaded = [load_suite(n, config.root, extras) for n in names]
    policies = [gate_lib.load_policy(g, config.root) for g in ev.get("gates", [])]
    by_suite = {s.name: s for s in loaded}
    for pol in policies:
        if pol.suite in by_suite:
            gate_lib.check_policy_against_suite(pol, by_suite[pol.suite].metric_names)
    active = [p for p in policies if p.suite in by_suite]
    alias = baseline_alias or ev.get("baseline_alias", "production")
    stored_baseline = _load_baseline_results(baseline_results) if baseline_results else None
    if stored_baseline is not None:
        for suite in loaded:
            if suite.name in stored_baseline:
                refuse_if_incomparable(suite, stored_baseline[suite.name], baseline_results)

    rec_path = record_path(config, run_record)
    record = RunRecord.load(rec_path) if rec_path.exists() else None
    source = _candidate_source(config, model, record)

    from llmops_ci.config import is_remote
    from llmops_ci.evaluation.generation import Generator, ResponseCache
    from llmops_ci.registry import open_registry

    if not source.startswith("models:/") and not is_remote(source):
        from llmops_ci.stages.register import check_model_dir

        check_model_dir(Path(source))
    registry = open_registry(config, tracking_uri)
    cache_dir = config.root / ".llmops" / "cache"
    if source.startswith("models:/"):
        info = registry.resolve(source)
        cand_dir = registry.download(info, cache_dir / "models" / f"{info.name}-v{info.version}")
        cand_hash, cand_version = info.tags.get("llmops.content_sha256") or sha256_tree(cand_dir), info.version
    else:
        cand_dir = Path(source) if not is_remote(source) else registry.fetch_model(source, cache_dir / "fetched")
        cand_hash, cand_version = sha256_tree(cand_dir), None
        known = registry.find_by_content(cand_hash)
        cand_version = known.version if known else None

    record = record or RunRecord.new(config, rec_path)
    with record.running("evaluate") as stage:
        cache = ResponseCache(cache_dir / "responses.sqlite")
        batch = ev.get("batch_size", 16)
        from llmops_ci.evaluation.engine import run_suite
        from llmops_ci.evaluation.judge import build_judge

        judge = build_judge(ev.get("judge"), config)
        candidate = Generator(cand_dir, cand_hash, config.data["model"]["kind"], cache, batch, label="candidate")

        # Baseline: the model behind the alias, its stored results reused when comparable.
        needs_baseline = any(gate_lib.needs_baseline(g) for p in active for g in p.spec["gates"])
        baseline_info = registry.by_alias(alias) if needs_baseline and stored_baseline is None else None
        baseline_note = None
        if needs_baseline and stored_baseline is None and baseline_info is None:
            baseline_note = f"no model has alias {alias} yet"
            progress(f"evaluate: {baseline_note}; comparison gates follow each policy's on_missing_baseline")
        base_gen = None
        base_hash = baseline_info.tags.get("llmops.content_sha256") if baseline_info else None

        domains, per_suite_results, reused = {}, {}, {}
        performance, onnx_uris = {}, {}
        for suite in loaded:
            base_result = None
            if suite.is_performance:
                # Timings only compare within one run on one machine: the baseline is always measured here.
                result, base_result, performance[suite.name] = _measure_performance(
                    suite, cand_dir, active, registry, alias, cache_dir, progress)
                per_suite_results[suite.name] = result
                if base_result is None and any(gate_lib.needs_baseline(g) for p in active if p.suite == suite.name
                                               for g in p.spec["gates"]):
                    baseline_note = baseline_note or f"no model has alias {alias} yet"
            else:
                progress(f"evaluate: suite {suite.name} ({len(suite.cases)} cases) on the candidate")
                result = run_suite(suite, candidate, judge)
                per_suite_results[suite.name] = result
            if suite.is_performance:
                pass  # its baseline was measured above, beside the candidate
            elif stored_baseline is not None:
                base_result = stored_baseline.get(suite.name)
            elif baseline_info is not None and any(p.suite == suite.name for p in active):
                base_result = registry.find_evaluation(base_hash, suite.name, suite.eval_hash()) if base_hash else None
                if base_result is not None:
                    reused[suite.name] = base_result.get("mlflow_run_id")
                    progress(f"evaluate: reusing stored results of {alias} (version {baseline_info.version}) for {suite.name}")
                else:
                    older = registry.evaluation_hashes(base_hash, suite.name) if base_hash else []
                    if older:
                        progress(f"evaluate: stored {alias} results for {suite.name} were computed under another "
                                 f"evaluation hash ({older[0][:12]}); evaluating {alias} again under {suite.eval_hash()[:12]}")
                    if base_gen is None:
                        base_dir = registry.download(baseline_info, cache_dir / "models" / f"{baseline_info.name}-v{baseline_info.version}")
                        base_gen = Generator(base_dir, base_hash or sha256_tree(base_dir), config.data["model"]["kind"],
                                             cache, batch, label=alias)
                    base_result = run_suite(suite, base_gen, judge)
                    registry.log_evaluation(base_gen.model_hash, suite.name, suite.eval_hash(), base_result,
                                            _metrics_flat(base_result),
                                            {"llmops.model_version": str(baseline_info.version), "llmops.run_id": record.run_id})
            if base_result is not None:
                refuse_if_incomparable(suite, base_result, f"baseline {alias}")
            gates = []
            for pol in active:
                if pol.suite == suite.name:
                    gates += gate_lib.judge(pol, result, base_result, baseline_note or "", ev.get("inconclusive", "fail"),
                                            baseline_label=alias)
            verdict, passed = gate_lib.domain_verdict(gates) if gates else ("PASS", True)
            domains[suite.name] = {
                "verdict": verdict, "passed": passed, "eval_hash": suite.eval_hash(), "hash_parts": suite.hash_parts(),
                "policies": {p.name: p.sha256 for p in active if p.suite == suite.name},
                "cases": len(suite.cases), "gates": [g.as_dict() for g in gates], "summary": result["summary"],
                "cases_detail": result["cases"], "seed": result["seed"], "suite": suite.name,
                "baseline_reused_from": reused.get(suite.name),
            }

        overall_passed = all(d["passed"] for d in domains.values())
        verdicts = [d["verdict"] for d in domains.values()]
        overall = "FAIL" if "FAIL" in verdicts else ("INCONCLUSIVE" if "INCONCLUSIVE" in verdicts else "PASS")
        results = {
            "schema_version": 1, "created_at": now(), "run_id": record.run_id, "verdict": overall, "passed": overall_passed,
            "model": {"source": source, "content_sha256": cand_hash, "version": cand_version},
            "baseline": {"alias": alias, "version": baseline_info.version if baseline_info else None,
                         "content_sha256": base_hash, "note": baseline_note,
                         "source": baseline_results} if needs_baseline else None,
            "generation": {"candidate": candidate.stats.as_dict(),
                           "baseline": base_gen.stats.as_dict() if base_gen else None},
            "domains": domains,
            **({"performance": performance} if performance else {}),
        }
        from llmops_ci.evaluation.report import write_reports

        out_dir = Path(report_dir) if report_dir else config.root / ".llmops" / "report"
        paths = write_reports(results, out_dir)
        run_ids = {}
        for suite in loaded:
            stored = {**per_suite_results[suite.name], "verdict": domains[suite.name]["verdict"],
                      "passed": domains[suite.name]["passed"], "gates": domains[suite.name]["gates"],
                      "policies": domains[suite.name]["policies"]}
            run_ids[suite.name] = registry.log_evaluation(
                cand_hash, suite.name, suite.eval_hash(), stored, _metrics_flat(per_suite_results[suite.name]),
                {"llmops.run_id": record.run_id, "llmops.verdict": domains[suite.name]["verdict"],
                 **({"llmops.model_version": str(cand_version)} if cand_version else {})},
                report_dir=out_dir)
        for name, perf in performance.items():
            onnx = perf["candidate"]["onnx_path"]
            known = registry.version(cand_version) if cand_version else None
            onnx_uris[name] = registry.log_onnx(Path(onnx), known, run_ids[name])
            progress(f"evaluate: ONNX model logged to MLflow at {onnx_uris[name]}")
        progress(f"evaluate: {overall} — report {paths['html']}")
        stage["result"] = {
            "verdict": overall, "passed": overall_passed, "model": results["model"], "baseline": results["baseline"],
            "generation": results["generation"],
            "domains": {k: {"verdict": v["verdict"], "passed": v["passed"], "eval_hash": v["eval_hash"],
                            "policies": v["policies"], "mlflow_run_id": run_ids[k],
                            "gates": [{"id": g["id"], "verdict": g["verdict"], "required": g["required"],
                                       "effective": g["effective"]} for g in v["gates"]]}
                        for k, v in domains.items()},
            "report": paths,
            **({"onnx": onnx_uris} if onnx_uris else {}),
        }
        stage["artifacts"] = {f"report_{k}": v for k, v in paths.items()}
        cache.close()
        if not overall_passed:
            failing = [f"{k}: {v['verdict']}" for k, v in domains.items() if not v["passed"]]
            raise VerdictNo(f"required gates failed ({'; '.join(failing)}); report: {paths['html']}")
    return stage["result"]


def _measure_performance(suite, cand_dir: Path, active, registry, alias: str, cache_dir: Path, progress):
    """(candidate results, baseline results or None, details) of a performance suite."""
    from llmops_ci.evaluation import gates as gate_lib
    from llmops_ci.evaluation.performance import run_performance

    models = {"candidate": cand_dir}
    wants_baseline = any(gate_lib.needs_baseline(g) for p in active if p.suite == suite.name for g in p.spec["gates"])
    info = registry.by_alias(alias) if wants_baseline else None
    if info is not None:
        models[alias] = registry.download(info, cache_dir / "models" / f"{info.name}-v{info.version}")
    progress(f"evaluate: suite {suite.name} ({len(suite.cases)} prompts): ONNX parity, latency and throughput "
             f"of {' and '.join(models)}")
    measured = run_performance(suite, models, cache_dir, progress)
    details = {label: r["performance"] for label, r in measured.items()}
    if info is not None:
        details[alias]["version"] = info.version
    return measured["candidate"], measured.get(alias), details


def run_evaluate_remote(config_path: str | None, model: str | None, suites: list[str] | None, baseline: str | None,
                        run_record: str | None, progress=print) -> dict:
    """``evaluate --backend skypilot``: the same evaluation as a managed job on the GPU it needs.

    The job logs its results to the MLflow server under this run's id; this
    process waits, then collects the verdicts into the run record.
    """
    import shlex

    from llmops_ci.infra.task import build_task
    from llmops_ci.registry import open_registry
    from llmops_ci.registry.tracking import tracking_uri_for_job
    from llmops_ci.stages.finetune import _skypilot

    config = load_config(config_path)
    if not tracking_uri_for_job(config.tracking_uri):
        raise BadInput(f"{config.display}: registry.tracking_uri: evaluate --backend skypilot needs an MLflow server "
                       f"the job can reach (http(s)://…), got {config.tracking_uri!r}")
    rec_path = record_path(config, run_record)
    record = RunRecord.load_or_new(config, rec_path)
    source = _candidate_source(config, model, record)
    if not source.startswith("models:/") and "://" not in source:
        raise BadInput(f"{source}: a remote evaluation needs a model the job can fetch (models:/NAME@ALIAS or a bucket URI)")
    args = ["--model", source] + [a for s in (suites or []) for a in ("--suite", s)] + (["--baseline", baseline] if baseline else [])
    task = build_task(config, "evaluate", record.run_id, "skypilot",
                      extra_envs={"LLMOPS_EVALUATE_ARGS": " ".join(shlex.quote(a) for a in args)})
    sky = _skypilot()
    with record.running("evaluate") as stage:
        launched = sky.launch(task, config.display, detach=False, log=progress)
        stage["result"] = {"backend": "skypilot", **launched}
        if launched["status"] != "SUCCEEDED":
            from llmops_ci.errors import ExternalFailure

            raise ExternalFailure(f"SkyPilot managed job {launched['job_id']} ended {launched['status']}")
        found = open_registry(config).evaluations_of_run(record.run_id)
        if not found:
            from llmops_ci.errors import ExternalFailure

            raise ExternalFailure(f"the evaluation job finished but logged no results for run {record.run_id} to MLflow")
        domains = {name: {"verdict": r["verdict"], "passed": r["passed"], "eval_hash": r["eval_hash"],
                          "policies": r.get("policies", {}), "mlflow_run_id": r["mlflow_run_id"],
                          "gates": [{"id": g["id"], "verdict": g["verdict"], "required": g["required"],
                                     "effective": g["effective"]} for g in r.get("gates", [])]}
                   for name, r in found.items()}
        passed = all(d["passed"] for d in domains.values())
        verdicts = [d["verdict"] for d in domains.values()]
        stage["result"].update(domains=domains, passed=passed,
                               verdict="FAIL" if "FAIL" in verdicts else ("INCONCLUSIVE" if "INCONCLUSIVE" in verdicts else "PASS"))
        if not passed:
            raise VerdictNo(f"required gates failed in the remote evaluation ({', '.join(k for k, d in domains.items() if not d['passed'])})")
    return stage["result"]
