"""Model cards: one per registered version, Markdown and JSON, logged to MLflow beside the model.

Built from what the registry and the audit trail already hold — provenance tags, the training
configuration, stored gate verdicts per domain with their confidence intervals, approvals and
promotion history — plus intended use and limitations from ``llmops.yaml``.
"""

from __future__ import annotations

import json

from llmops_ci.evaluation.report import format_estimate
from llmops_ci.governance.ladder import ALIAS_ACTIONS

SECRET_KEYS = ("token", "password", "secret", "key")


def _training(config) -> dict:
    def scrub(obj):
        if isinstance(obj, dict):
            return {k: ("[hidden]" if any(s in k.lower() for s in SECRET_KEYS) else scrub(v)) for k, v in obj.items()}
        return obj

    return scrub({k: v for k, v in config.data.get("training", {}).items()})


def build_card(gov, info, chain: list[dict]) -> dict:
    config = gov.config
    project = config.data.get("project", {})
    ev = config.data.get("evaluation", {})
    content = info.tags.get("llmops.content_sha256", "")
    evaluation = {}
    for name in ev.get("suites") or []:
        suite, stored = gov.stored_verdict(content, name)
        if stored is None:
            evaluation[suite.name] = {"verdict": None, "note": "not evaluated under the current suite"}
            continue
        evaluation[suite.name] = {
            "verdict": stored.get("verdict"), "eval_hash": suite.eval_hash(), "mlflow_run_id": stored.get("mlflow_run_id"),
            "gates": [{k: g.get(k) for k in ("id", "metric", "verdict", "required", "candidate", "baseline", "difference")}
                      for g in stored.get("gates", [])]}
    mine = [e for e in chain if e.get("version") == info.version]
    return {
        "model": {"name": info.name, "version": info.version, "uri": info.uri, "content_sha256": content,
                  "aliases": info.aliases},
        "project": {"name": project.get("name"), "description": project.get("description"),
                    "owners": project.get("owners", []), "intended_use": project.get("intended_use"),
                    "limitations": project.get("limitations", [])},
        "provenance": info.provenance,
        "training": _training(config),
        "evaluation": evaluation,
        "approvals": [{"by": e["actor"], "environment": e.get("environment"), "commit": e.get("commit"),
                       "time": e["time"], "comment": e.get("detail")} for e in mine if e.get("action") == "approve"],
        "history": [{"action": e["action"], "outcome": e.get("outcome"), "environment": e.get("environment"),
                     "by": e["actor"], "time": e["time"], "previous_version": e.get("previous_version"),
                     "audit_seq": e["seq"]} for e in mine if e.get("action") in ALIAS_ACTIONS],
    }


def markdown(card: dict) -> str:
    m, p = card["model"], card["project"]
    lines = [f"# Model card: {m['name']} version {m['version']}", "",
             f"`{m['uri']}` · content `{m['content_sha256'][:16]}` · aliases: {', '.join(m['aliases']) or 'none'}", ""]
    if p.get("description"):
        lines += [p["description"], ""]
    lines += ["## Intended use", "", p.get("intended_use") or "Not stated in llmops.yaml (project.intended_use).", "",
              "## Limitations", ""]
    lines += [f"- {x}" for x in p.get("limitations") or ["Not stated in llmops.yaml (project.limitations)."]]
    lines += ["", "## Provenance", "", "| key | value |", "|---|---|"]
    for k, v in sorted(card["provenance"].items()):
        if k != "packages":
            lines.append(f"| {k} | `{v}` |")
    lines += ["", "## Training", "", "```json", json.dumps(card["training"], indent=2, sort_keys=True), "```", "",
              "## Evaluation", ""]
    for name, dom in card["evaluation"].items():
        lines.append(f"### {name}: {dom.get('verdict') or 'not evaluated'}")
        if dom.get("gates"):
            lines += ["", "| gate | metric | candidate (95% CI) | baseline | verdict | required |", "|---|---|---|---|---|---|"]
            for g in dom["gates"]:
                lines.append(f"| {g['id']} | {g['metric']} | {format_estimate(g.get('candidate'))} | {format_estimate(g.get('baseline'))} | "
                             f"{g['verdict']} | {'yes' if g.get('required') else 'advisory'} |")
        elif dom.get("note"):
            lines.append(dom["note"])
        lines.append("")
    lines += ["## Approvals", ""]
    lines += [f"- {a['by']} for {a['environment']} at {a['time']} (commit `{str(a['commit'])[:12]}`)"
              + (f": {a['comment']}" if a.get("comment") else "") for a in card["approvals"]] or ["None recorded."]
    lines += ["", "## Promotion history", ""]
    lines += [f"- {h['time']} {h['action']} to {h['environment']}: {h['outcome']} by {h['by']} "
              f"(previous version {h['previous_version']}; audit entry {h['audit_seq']})" for h in card["history"]] \
        or ["Never promoted."]
    return "\n".join(lines).rstrip() + "\n"


def publish_card(gov, info, chain: list[dict]) -> dict:
    """Build the card, write it under ``.llmops/model_cards/`` and log it to MLflow."""
    fresh = gov.registry.version(info.version)
    card = build_card(gov, fresh, chain)
    md = markdown(card)
    folder = gov.config.root / ".llmops" / "model_cards"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"v{info.version}.md").write_text(md)
    (folder / f"v{info.version}.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    uri = gov.registry.log_model_card(fresh, {"model_card.md": md, "model_card.json": json.dumps(card, indent=2, sort_keys=True)})
    return {"card": card, "markdown": md, "uri": uri, "path": str(folder / f"v{info.version}.md")}
