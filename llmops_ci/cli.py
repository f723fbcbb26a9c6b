"""The ``llmops-ci`` command line: parse, call one stage function, print.

Nothing heavy is imported here: each subcommand imports its stage module only
when it runs, so ``llmops-ci validate`` starts as fast as jsonschema and yaml.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from llmops_ci import __version__
from llmops_ci.errors import EXIT_BAD_INPUT, EXIT_EXTERNAL, EXIT_OK, ConfigProblems, LlmopsError

EXIT_CODES = """exit codes:
  0  success
  1  a verdict said no (a gate failed, a promotion was refused)
  2  bad input or usage (config, suite, gate file, flag, model directory)
  3  an outside system failed (MLflow, the forge, the cloud)
"""


def _command(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the exit codes, its description kept as written."""
    return sub.add_parser(name, epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def _common(p: argparse.ArgumentParser, record: bool = True, registry: bool = False) -> None:
    p.add_argument("--config", default=os.environ.get("LLMOPS_CONFIG", "llmops.yaml"), metavar="PATH",
                   help="pipeline config (default: ./llmops.yaml, or $LLMOPS_CONFIG)")
    if record:
        p.add_argument("--run-record", metavar="PATH",
                       help="run record to read and write (default: .llmops/run.json beside the config, or $LLMOPS_RUN_RECORD)")
    if registry:
        p.add_argument("--tracking-uri", metavar="URI",
                       help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else registry.tracking_uri)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmops-ci",
        description="Take a language model from a pull request to production: fine-tune, evaluate, register, promote.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"llmops-ci {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _command(sub, "validate", help="check llmops.yaml and every file it refers to",
                 description="Check llmops.yaml against its schema and check what it refers to "
                             "(datasets, model directory, suites, gate policies, environment aliases). "
                             "Reports every problem at once, one line each.")
    _common(p, record=False)
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.set_defaults(func=cmd_validate)

    p = _command(sub, "finetune", help="fine-tune the base model here or as a SkyPilot managed job",
                 description="Build the finetune task from llmops.yaml and run it: on this machine "
                             "(backend local, the default) or as a SkyPilot managed job on cloud GPUs "
                             "(backend skypilot). A rerun resumes from the last checkpoint.")
    _common(p)
    p.add_argument("--backend", choices=("local", "skypilot"), help="override training.backend")
    p.add_argument("--dry-run", action="store_true",
                   help="print the SkyPilot task YAML (runnable with `sky jobs launch`) and stop")
    p.add_argument("--detach", action="store_true", help="skypilot: return once the job is submitted")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--status", type=int, metavar="JOB", help="print the status of managed job JOB")
    group.add_argument("--wait", type=int, metavar="JOB", help="stream and wait for managed job JOB, then record it")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_finetune)

    p = _command(sub, "evaluate", help="score the model with domain suites and judge the gates",
                 description="Run the domain suites on the candidate (batched, cached generation; DeepEval "
                             "metrics), judge the gate policies against thresholds and against the model behind "
                             "the baseline alias (paired non-inferiority), and write results.json, summary.md, "
                             "junit.xml and report.html. Exit 1 when a required gate fails.")
    _common(p, registry=True)
    p.add_argument("--model", metavar="DIR|URI",
                   help="model directory or models:/NAME@ALIAS (default: what finetune wrote, else @candidate)")
    p.add_argument("--suite", action="append", metavar="NAME", help="suite to run (repeatable; default: evaluation.suites)")
    p.add_argument("--baseline", metavar="ALIAS", help="baseline alias (default: evaluation.baseline_alias)")
    p.add_argument("--baseline-results", metavar="PATH",
                   help="compare with a results.json instead of the model behind the alias (refused if not comparable)")
    p.add_argument("--report-dir", metavar="DIR", help="where reports go (default: .llmops/report)")
    p.add_argument("--backend", choices=("local", "skypilot"), default="local",
                   help="run the evaluation here or as a SkyPilot managed job (default: local)")
    p.add_argument("--list-suites", action="store_true", help="list installed suites and exit")
    p.add_argument("--list-metrics", action="store_true", help="list available metric types and exit")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_evaluate)

    p = _command(sub, "report", help="publish an evaluation to the forge: a check per domain, the PR comment",
                 description="Read the results.json that evaluate wrote and publish it where reviewers look: one "
                             "check per domain named llmops/<domain> (GitHub check runs, or commit statuses when "
                             "the token cannot create check runs; GitLab commit statuses; .llmops/checks.json "
                             "locally), the report as one pull/merge request comment edited in place on every "
                             "push, and the job summary. Publishes verdicts; never re-judges them.")
    _common(p, record=False)
    p.add_argument("--report-dir", metavar="DIR", help="where evaluate wrote its reports (default: .llmops/report)")
    p.add_argument("--sha", metavar="SHA", help="commit to attach the checks to (default: the pull request's head, "
                                                "$CI_COMMIT_SHA, or HEAD)")
    p.add_argument("--pr", type=int, metavar="N", help="pull/merge request to comment on (default: from the CI event)")
    p.add_argument("--no-comment", action="store_true", help="publish the checks only")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_report)

    p = _command(sub, "register", help="register a model directory in MLflow with provenance, alias `candidate`",
                 description="Log a Hugging Face model directory to MLflow (transformers flavor), register a version "
                             "tagged with its provenance and point the alias `candidate` at it. The same model files "
                             "registered again return the existing version.")
    _common(p, registry=True)
    p.add_argument("--model", metavar="DIR", help="model directory (default: what `finetune` wrote in the run record)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_register)

    p = _command(sub, "promote", help="move an environment's alias to a version when every requirement holds",
                 description="Promote a version to the next rung of the ladder in llmops.yaml. Checks, each by name: "
                             "the version's files are intact; the gates the environment requires passed for this "
                             "version under the current suites and policies; the ladder is walked in order; the "
                             "approvals satisfy the environment's rule. Refusal: exit 1, one line per unmet "
                             "requirement. Serialised per registered model by a lock in the registry's store.")
    _common(p, record=False, registry=True)
    p.add_argument("--to", required=True, metavar="ENV", help="environment to promote to (a rung of `environments`)")
    p.add_argument("--version", type=int, metavar="N",
                   help="version to promote (default: the one on the previous rung, or `candidate` for the first)")
    p.add_argument("--by", metavar="NAME", help="who promotes (default: the CI's user, else $USER)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_promote)

    p = _command(sub, "rollback", help="point an environment back at its previous version",
                 description="Move ENV's alias back to the version it had before (or --to N); audited and recorded "
                             "as a deployment like a promotion. Approvals only when the environment's "
                             "requires.rollback_approvals asks for them.")
    _common(p, record=False, registry=True)
    p.add_argument("--env", required=True, metavar="ENV")
    p.add_argument("--to", type=int, metavar="N", help="version to go back to (default: the previous one)")
    p.add_argument("--by", metavar="NAME", help="who rolls back (default: the CI's user, else $USER)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_rollback)

    p = _command(sub, "approve", help="record an approval of a version for an environment (local forge)",
                 description="Record that NAME approves deploying version N (of the commit it was built from) to "
                             "ENV. The approval is an entry in the hash-chained audit trail. On GitHub and GitLab "
                             "approvals come from the forge instead.")
    _common(p, record=False, registry=True)
    p.add_argument("--env", required=True, metavar="ENV")
    p.add_argument("--version", required=True, type=int, metavar="N")
    p.add_argument("--by", required=True, metavar="NAME")
    p.add_argument("--comment", metavar="TEXT")
    p.add_argument("--commit", metavar="SHA", help="the commit reviewed (default: the version's own commit)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_approve)

    p = _command(sub, "audit", help="show, verify or export the audit trail")
    asub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    q = _command(asub, "show", help="list audit entries")
    _common(q, record=False, registry=True)
    q.add_argument("--env", metavar="ENV")
    q.add_argument("--version", type=int, metavar="N")
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.set_defaults(func=cmd_audit_show)
    q = _command(asub, "verify", help="check the hash chain; exit 1 naming the first bad entry")
    _common(q, record=False, registry=True)
    q.add_argument("--file", metavar="PATH", help="verify a mirror or JSONL export instead of the registry's chain")
    q.set_defaults(func=cmd_audit_verify)
    q = _command(asub, "export", help="write the audit trail as JSONL or CSV to stdout")
    _common(q, record=False, registry=True)
    q.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    q.add_argument("--env", metavar="ENV")
    q.add_argument("--version", type=int, metavar="N")
    q.set_defaults(func=cmd_audit_export)

    p = _command(sub, "demo", help="the whole ladder end to end on this machine: no cloud, no forge",
                 description="Copy the shipped example into --workdir (a git repository of its own) and run "
                             "it all there: fine-tune v1, evaluate it on the four domain suites, register, "
                             "promote to staging, record a local approval, promote to production; then "
                             "fine-tune v2 with a changed config and show the gate comparing it with "
                             "production. A few minutes on two CPU cores.")
    p.add_argument("--workdir", default="llmops-demo", metavar="DIR",
                   help="folder to run in (default: ./llmops-demo; an earlier demo's folder is made anew)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_demo)

    p = _command(sub, "github", help="GitHub helpers")
    gsub = p.add_subparsers(dest="github_command", metavar="ACTION", required=True)
    q = _command(gsub, "protect", help="make the llmops/<domain> checks required on a branch (idempotent)",
                 description="Add llmops/<domain> for every suite in evaluation.suites (or --check NAME) to "
                             "the branch's required status checks, keeping every other protection setting. "
                             "Run again, it changes nothing and says so. Needs a token with administration: "
                             "write on the repository (GITHUB_TOKEN cannot).")
    _common(q, record=False)
    q.add_argument("--branch", required=True, metavar="NAME")
    q.add_argument("--check", action="append", metavar="NAME", help="check name to require (repeatable; default: "
                                                                   "llmops/<suite> for each evaluation suite)")
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.set_defaults(func=cmd_github_protect)

    p = _command(sub, "registry", help="inspect the model registry")
    rsub = p.add_subparsers(dest="registry_command", metavar="ACTION", required=True)
    q = _command(rsub, "show", help="list versions with their aliases and provenance")
    _common(q, record=False, registry=True)
    q.add_argument("--name", help="registered model name (default: registry.model_name or project.name)")
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.set_defaults(func=cmd_registry_show)
    q = _command(rsub, "card", help="build a version's model card (Markdown or JSON) and log it to MLflow")
    _common(q, record=False, registry=True)
    q.add_argument("--version", type=int, metavar="N", help="version (default: the one behind `candidate`)")
    q.add_argument("--format", choices=("md", "json"), default="md")
    q.set_defaults(func=cmd_registry_card)
    return parser


# -- commands -------------------------------------------------------------------

def cmd_validate(args) -> int:
    from pathlib import Path

    from llmops_ci.config import check_config

    config, problems = check_config(Path(args.config))
    if args.format == "json":
        print(json.dumps({"config": args.config, "valid": not problems,
                          "problems": [p.as_dict() for p in problems]}, indent=2))
    else:
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"{config.display}: valid (project {config.project}, {len(config.environments)} environments)")
    return EXIT_BAD_INPUT if problems else EXIT_OK


def cmd_finetune(args) -> int:
    from llmops_ci.stages import finetune

    if args.status is not None or args.wait is not None:
        result = _on_stderr(finetune.run_finetune_job, args.config, args.status if args.status is not None else args.wait,
                            wait=args.wait is not None, run_record=args.run_record, progress=_progress)
    else:
        result = _on_stderr(finetune.run_finetune, args.config, backend=args.backend, dry_run=args.dry_run,
                            detach=args.detach, run_record=args.run_record, progress=_progress)
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    elif result.get("dry_run"):
        print(result["task_yaml"], end="")
    elif "model_dir" in result or "model_uri" in result:
        where = result.get("model_uri") or result["model_dir"]
        loss = result.get("last_logged_loss")
        print(f"finetune {result.get('status', 'succeeded').lower()}: model at {where}"
              + (f" (loss {result['first_logged_loss']:.4f} -> {loss:.4f})" if loss is not None and result.get("first_logged_loss") is not None else ""))
    else:
        print(f"managed job {result.get('job_id')}: {result.get('status')}")
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from llmops_ci.stages import evaluate

    if args.list_suites:
        suites = _on_stderr(evaluate.list_suites)
        if args.format == "json":
            print(json.dumps(suites, indent=2))
        for s in suites if args.format == "text" else []:
            print(f"{s['name']:14s} {s['cases']:4d} cases  metrics: {', '.join(s['metrics'])}  {s['description']}")
        return EXIT_OK
    if args.list_metrics:
        from llmops_ci.evaluation.metrics import deepeval_metric_names, needs_judge, own_metric_names

        for name in sorted(set(deepeval_metric_names()) | set(own_metric_names())):
            origin = "llmops-ci" if name in own_metric_names() else "deepeval"
            print(f"{name:36s} {origin:10s} {'needs evaluation.judge' if needs_judge(name) else 'offline'}")
        return EXIT_OK
    if args.backend == "skypilot":
        result = _on_stderr(evaluate.run_evaluate_remote, args.config, args.model, args.suite, args.baseline,
                            args.run_record, progress=_progress)
    else:
        result = _on_stderr(evaluate.run_evaluate, args.config, model=args.model, suites=args.suite,
                            baseline_alias=args.baseline, baseline_results=args.baseline_results,
                            report_dir=args.report_dir, run_record=args.run_record, tracking_uri=args.tracking_uri,
                            progress=_progress)
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        for name, dom in result.get("domains", {}).items():
            print(f"llmops/{name}: {dom['verdict']}")
        print(f"verdict: {result.get('verdict')}  report: {result.get('report', {}).get('html')}")
    return EXIT_OK


def cmd_register(args) -> int:
    from llmops_ci.stages.register import run_register

    result = _on_stderr(run_register, args.config, args.model, args.run_record, args.tracking_uri, progress=_progress)
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        state = "registered" if result["created"] else "already registered"
        print(f"{result['name']} version {result['version']} {state}: {result['uri']} (aliases: {', '.join(result['aliases'])})")
    return EXIT_OK


def cmd_registry_show(args) -> int:
    from llmops_ci.stages.register import run_registry_show

    versions = _on_stderr(run_registry_show, args.config, args.name, args.tracking_uri)
    if args.format == "json":
        print(json.dumps(versions, indent=2, sort_keys=True))
        return EXIT_OK
    if not versions:
        print("no versions registered yet")
    for v in versions:
        prov = v["provenance"]
        aliases = ",".join(v["aliases"]) or "-"
        print(f"{v['name']} v{v['version']}  aliases={aliases}  commit={(prov.get('git_commit') or '-')[:12]}"
              f"  config={prov.get('config_sha256', '-')[:12]}  data={prov.get('dataset.train.sha256', '-')[:12]}"
              f"  content={prov.get('content_sha256', '-')[:12]}  base={prov.get('base_model', '-')}")
    return EXIT_OK


def cmd_demo(args) -> int:
    from llmops_ci.stages.demo import run_demo

    out = _on_stderr(run_demo, args.workdir, progress=_progress)
    if args.format == "json":
        print(json.dumps(out, indent=2, sort_keys=True))
        return EXIT_OK
    v1, v2, aliases = out["v1"], out["v2"], out["aliases"]
    print(f"\ndemo finished in {out['seconds']:.0f} s in {out['workdir']}")
    print(f"  version {v1['version']}: gates {v1['verdict']} → staging → approved → production "
          f"(production is version {aliases.get('production')})")
    print(f"  version {v2['version']}: gates vs production (version {v2['baseline_version']}): {v2['verdict']}"
          + ("" if v2["passed"] else " — it would be refused by promote") + f"; alias candidate → {aliases.get('candidate')}")
    for c in v2["comparisons"]:
        d = c.get("difference") or {}
        diff = (f" (difference {d['value']:+.3f}, 95% CI [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}])"
                if d.get("value") is not None and d.get("ci_low") is not None else "")
        print(f"    llmops/{c['domain']} {c['gate']}: {c['verdict']}{diff}")
    print(f"  HTML report, version {v2['version']} vs production: {v2['report']}")
    print(f"  HTML report, version {v1['version']}: {v1['report']}")
    print(f"  model card: {out['model_card']}")
    print(f"  audit trail: llmops-ci audit show --config {out['config']}")
    print(f"  all of it in MLflow: mlflow ui --backend-store-uri {out['tracking_uri']}")
    return EXIT_OK


def _governance(args):
    from llmops_ci.governance.ladder import Governance

    return _on_stderr(Governance, args.config, args.tracking_uri, progress=_progress)


def _print_moved(result: dict, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    for r in result["requirements"]:
        print(f"  {'ok ' if r['ok'] else 'NO '} {r['name']}: {r['detail']}")
    state = "moved" if result.get("changed") else "unchanged"
    print(f"{result['environment']}: alias `{result['alias']}` {state} → version {result['version']} "
          f"(previous: {result['previous_version'] if result['previous_version'] is not None else 'none'})")


def cmd_report(args) -> int:
    from llmops_ci.stages.report import run_report

    result = run_report(args.config, args.report_dir, args.sha, args.pr, comment=not args.no_comment,
                        progress=_progress)
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        for c in result["checks"]:
            print(f"{c['name']}: {c.get('conclusion') or c.get('state')} ({c['kind']}, {c['action']})")
        if result["comment"]:
            print(f"comment on #{result['comment']['number']}: {result['comment']['action']}")
    return EXIT_OK


def cmd_github_protect(args) -> int:
    from llmops_ci.config import load_config
    from llmops_ci.errors import BadInput
    from llmops_ci.scm import adapter
    from llmops_ci.scm.base import CHECK_PREFIX

    config = load_config(args.config)
    checks = args.check or [CHECK_PREFIX + s for s in (config.data.get("evaluation") or {}).get("suites") or []]
    if not checks:
        raise BadInput(f"{config.display}: evaluation.suites: no suites, so no checks to require; add suites or "
                       "pass --check NAME")
    result = adapter("github", config)(config, say=_progress).protect(args.branch, checks)
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        if result["protection"] == "created":
            print(f"{args.branch}: branch protection created")
        for name in result["added"]:
            print(f"{args.branch}: now requires {name}")
        for name in result["already"]:
            print(f"{args.branch}: already requires {name}")
        if not result["added"]:
            print(f"{args.branch}: unchanged")
    return EXIT_OK


def cmd_promote(args) -> int:
    gov = _governance(args)
    _print_moved(_on_stderr(gov.promote, args.to, args.version, args.by), args.format)
    return EXIT_OK


def cmd_rollback(args) -> int:
    gov = _governance(args)
    _print_moved(_on_stderr(gov.rollback, args.env, args.to, args.by), args.format)
    return EXIT_OK


def cmd_approve(args) -> int:
    gov = _governance(args)
    result = _on_stderr(gov.approve, args.env, args.version, args.by, args.comment, args.commit)
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(f"{result['by']} approved version {result['version']} (commit {str(result['commit'])[:12]}) "
              f"for {result['environment']}; audit entry {result['audit_seq']}")
    return EXIT_OK


def cmd_audit_show(args) -> int:
    gov = _governance(args)
    entries = _on_stderr(gov.entries, args.env, args.version)
    if args.format == "json":
        print(json.dumps(entries, indent=2, sort_keys=True))
    else:
        if not entries:
            print("no audit entries")
        for e in entries:
            failed = [r["name"] for r in e.get("requirements", []) if not r["ok"]]
            print(f"{e['seq']:>4} {e['time']} {e['actor']:<12} {e['action']:<8} {e.get('outcome', ''):<8} "
                  f"env={e.get('environment') or '-'} version={e.get('version')} "
                  f"commit={str(e.get('commit') or '-')[:12]}" + (f" unmet={','.join(failed)}" if failed else ""))
    pending = gov.ledger.pending()
    if pending:
        print(f"note: an interrupted {pending['entry']['action']} of version {pending['version']} is pending; "
              "the next promote, rollback or approve repairs it", file=sys.stderr)
    return EXIT_OK


def cmd_audit_verify(args) -> int:
    if args.file:
        from pathlib import Path

        from llmops_ci.governance.audit import verify_file

        print(verify_file(Path(args.file)))
    else:
        print(_on_stderr(_governance(args).verify_audit))
    return EXIT_OK


def cmd_audit_export(args) -> int:
    from llmops_ci.governance import audit

    gov = _governance(args)
    sys.stdout.write(audit.export(_on_stderr(gov.entries, args.env, args.version), args.format))
    return EXIT_OK


def cmd_registry_card(args) -> int:
    out = _on_stderr(_governance(args).card, args.version)
    print(json.dumps(out["card"], indent=2, sort_keys=True) if args.format == "json" else out["markdown"], end="")
    print(f"model card logged to MLflow at {out['uri']}; copy at {out['path']}", file=sys.stderr)
    return EXIT_OK


def _on_stderr(fn, *args, **kwargs):
    """Run a stage with stdout sent to stderr: libraries print there (MLflow's run links),
    and stdout is kept for the command's own result (``--format json`` must parse)."""
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):
        return fn(*args, **kwargs)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _write_error_file(exc: LlmopsError) -> None:
    """With LLMOPS_ERROR_FILE set (the GitHub Action sets it), also leave the error there as JSON,
    so the action can annotate the file and line without parsing the log."""
    path = os.environ.get("LLMOPS_ERROR_FILE")
    if not path:
        return
    from llmops_ci.secrets import redact

    problems = [{**p.as_dict(), "message": redact(p.message)} for p in getattr(exc, "problems", [])]
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"exit_code": exc.exit_code, "lines": [redact(x) for x in exc.lines], "problems": problems}, fh)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except LlmopsError as exc:
        from llmops_ci.secrets import redact

        for line in exc.lines:
            print(redact(line), file=sys.stderr)
        if isinstance(exc, ConfigProblems) and getattr(args, "format", "text") == "json":
            print(json.dumps({"problems": [p.as_dict() for p in exc.problems]}, indent=2))
        _write_error_file(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # MLflow's own errors (a refused request, a bad store) are outside failures.
        if type(exc).__name__ in ("MlflowException", "RestException"):
            from llmops_ci.secrets import redact

            print(f"MLflow error: {redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}", file=sys.stderr)
            return EXIT_EXTERNAL
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
