"""The evaluation's outputs, all from one results dict so they always agree:

  results.json   machine-readable (schema: schemas/results.schema.json)
  summary.md     what a check run or job summary shows: one table per domain
  junit.xml      one testsuite per domain, one testcase per gate (GitLab MR reports)
  report.html    self-contained, with plots: candidate vs baseline per gate with CIs, per-slice bars
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from xml.etree import ElementTree as ET

ICON = {"PASS": "✅", "FAIL": "❌", "INCONCLUSIVE": "⚠️", "SKIPPED": "⏭️"}


def format_estimate(est: dict | None) -> str:
    if not est or est.get("value") is None:
        return "–"
    if est.get("ci_low") is None:
        return f"{est['value']:.3f}"
    return f"{est['value']:.3f} [{est['ci_low']:.3f}, {est['ci_high']:.3f}]"


def _fmt_diff(diff: dict | None) -> str:
    if not diff:
        return "–"
    return f"{diff['estimate']:+.3f} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}]"


def _slice_label(gate: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in (gate.get("slice") or {}).items()) or "all"


def markdown(results: dict, limit: int | None = None, full_report_url: str | None = None) -> str:
    """The Markdown summary; ``limit`` cuts it (for API size limits) with a pointer to the full report."""
    lines = [f"## llmops-ci evaluation: {ICON.get(results['verdict'], '')} {results['verdict']}", ""]
    model = results["model"]
    base = results.get("baseline") or {}
    lines.append(f"Candidate `{model.get('source')}` (content `{model.get('content_sha256', '')[:12]}`)"
                 + (f", baseline `{base.get('alias')}` = version {base.get('version')}" if base.get("version") else
                    (f", baseline: {base.get('note')}" if base.get("note") else "")))
    lines.append("")
    for name, dom in results["domains"].items():
        lines.append(f"### {ICON.get(dom['verdict'], '')} {name}: {dom['verdict']}"
                     + ("" if dom["passed"] else " (check fails)"))
        lines.append("")
        if not dom["gates"]:
            lines += ["No gate policy for this suite: results only.", ""]
        else:
            lines.append("| gate | metric | slice | candidate | baseline | difference | verdict | required |")
            lines.append("|---|---|---|---|---|---|---|---|")
            for g in dom["gates"]:
                lines.append(f"| `{g['id']}` | {g['metric']} | {_slice_label(g)} | {format_estimate(g['candidate'])} | "
                             f"{format_estimate(g.get('baseline'))} | {_fmt_diff(g.get('difference'))} | "
                             f"{ICON.get(g['verdict'], '')} {g['verdict']} | {'yes' if g['required'] else 'advisory'} |")
            lines.append("")
            for g in dom["gates"]:
                if g["verdict"] != "PASS":
                    lines.append(f"- `{g['id']}`: {g['reason']}")
            lines.append("")
    text = "\n".join(lines).rstrip() + "\n"
    if limit is not None and len(text.encode()) > limit:
        tail = f"\n\n… cut to fit; the full report: {full_report_url or 'report.html in the job artifacts'}\n"
        budget = limit - len(tail.encode())
        text = text.encode()[:budget].decode(errors="ignore").rsplit("\n", 1)[0] + tail
    return text


def junit(results: dict) -> str:
    root = ET.Element("testsuites", name="llmops-ci")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for name, dom in results["domains"].items():
        suite = ET.SubElement(root, "testsuite", name=f"llmops/{name}")
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for g in dom["gates"]:
            counts["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname=f"llmops.{name}.{g['policy']}", name=g["id"])
            detail = (f"{g['verdict']}: {g['reason']}\nmetric {g['metric']} ({_slice_label(g)}): candidate "
                      f"{format_estimate(g['candidate'])}, baseline {format_estimate(g.get('baseline'))}, difference {_fmt_diff(g.get('difference'))}")
            if g["effective"] == "fail" and g["required"]:
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=f"{g['verdict']}: {g['reason']}", type=g["verdict"]).text = detail
            elif g["verdict"] == "SKIPPED" or (not g["required"] and g["verdict"] != "PASS"):
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=("advisory " if not g["required"] else "") + f"{g['verdict']}: {g['reason']}")
            ET.SubElement(case, "system-out").text = detail
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("errors", "0")
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _bars(ax, gates: list[dict], unit_range: bool) -> None:
    xs = range(len(gates))
    for offset, key, color in ((-0.18, "candidate", "#2b6cb0"), (0.18, "baseline", "#a0aec0")):
        vals, lows, highs, pos = [], [], [], []
        for x, g in zip(xs, gates):
            est = g.get(key)
            if not est or est.get("value") is None:
                continue
            vals.append(est["value"])
            # Clamped: a rounding error must not make an error bar negative.
            lows.append(max(0.0, est["value"] - (est["ci_low"] if est.get("ci_low") is not None else est["value"])))
            highs.append(max(0.0, (est["ci_high"] if est.get("ci_high") is not None else est["value"]) - est["value"]))
            pos.append(x + offset)
        if vals:
            ax.bar(pos, vals, width=0.34, color=color, label=key, yerr=[lows, highs], capsize=3)
    top = max([g[k]["value"] for g in gates for k in ("candidate", "baseline") if (g.get(k) or {}).get("value")] or [1.0])
    for x, g in zip(xs, gates):
        if g.get("threshold") is not None and g["kind"] == "threshold":
            if unit_range or g["threshold"] <= 3 * top:
                ax.hlines(g["threshold"], x - 0.4, x + 0.4, colors="#c53030", linestyles="dashed")
            else:  # a far-off ceiling would flatten the bars: state it instead
                ax.annotate(f"limit {g['threshold']:g}", (x, top), ha="center", va="bottom", fontsize=7, color="#c53030")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([f"{g['id']}\n{g['verdict']}" for g in gates], fontsize=8)
    if unit_range:
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("statistic (95% CI)")
    else:
        ax.set_ylabel(f"{gates[0]['metric']} {gates[0]['candidate'].get('stat', '')}", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")


def _gate_plot(dom: dict) -> str | None:
    """Candidate vs baseline per gate, with confidence intervals: rates on one 0–1 axis, other
    statistics (latency in ms, tokens per second) each on an axis of their own."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gates = [g for g in dom["gates"] if g["candidate"].get("value") is not None]
    if not gates:
        return None
    rates = [g for g in gates if g["candidate"].get("stat") == "pass_rate"]
    others: dict[tuple, list[dict]] = {}
    for g in gates:
        if g["candidate"].get("stat") != "pass_rate":
            others.setdefault((g["metric"], g["candidate"].get("stat")), []).append(g)
    panels = ([(rates, True)] if rates else []) + [(gs, False) for gs in others.values()]
    widths = [max(2.5, 1.3 * len(gs) + 1) for gs, _ in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(widths) + 1, 3.2), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, (gs, unit) in zip(axes[0], panels):
        _bars(ax, gs, unit)
    fig.tight_layout()
    return _png(fig)


def _performance_plot(perf: dict) -> str | None:
    """Latency p50/p95 and throughput of each model timed in the run (candidate vs baseline)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(perf)
    panels = (("latency_p50_ms", "latency p50 (ms)"), ("latency_p95_ms", "latency p95 (ms)"),
              ("throughput_tokens_per_s", "throughput (tokens/s)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(9, 3))
    for ax, (key, title) in zip(axes, panels):
        ax.bar(labels, [perf[k][key] for k in labels], color=["#2b6cb0", "#a0aec0", "#718096"][:len(labels)])
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _png(fig)


def _slice_plot(name: str, summary: dict) -> str | None:
    """Per-slice pass rates of every metric (e.g. per language)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(metric, key, v["pass_rate"]) for metric, groups in summary.items()
            for key, v in groups.items() if key != "all" and v["pass_rate"] is not None]
    if not rows:
        return None
    metrics = sorted({r[0] for r in rows})
    keys = sorted({r[1] for r in rows})
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(keys) * len(metrics) + 2), 3.2))
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        values = {k: v for m, k, v in rows if m == metric}
        ax.bar([j + i * width for j in range(len(keys))], [values.get(k, 0) for k in keys], width=width, label=metric)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))])
    ax.set_xticklabels(keys, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("pass rate")
    ax.set_title(f"{name}: per slice", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def html_report(results: dict) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>llmops-ci evaluation</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#1a202c}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #cbd5e0;padding:4px 8px;font-size:14px}"
        ".PASS{color:#276749}.FAIL{color:#c53030}.INCONCLUSIVE{color:#b7791f}.SKIPPED{color:#718096}"
        "pre{white-space:pre-wrap;background:#f7fafc;padding:6px}</style></head><body>",
        f"<h1>llmops-ci evaluation: <span class='{e(results['verdict'])}'>{e(results['verdict'])}</span></h1>",
        f"<p>Candidate <code>{e(str(results['model'].get('source')))}</code>; baseline: "
        f"{e(str((results.get('baseline') or {}).get('alias') or ''))} "
        f"{e(str((results.get('baseline') or {}).get('version') or (results.get('baseline') or {}).get('note') or ''))}</p>",
    ]
    for name, dom in results["domains"].items():
        parts.append(f"<h2>{e(name)}: <span class='{e(dom['verdict'])}'>{e(dom['verdict'])}</span></h2>")
        parts.append(f"<p>evaluation hash <code>{e(dom['eval_hash'][:16])}</code>, {dom['cases']} cases</p>")
        if dom["gates"]:
            parts.append("<table><tr><th>gate</th><th>metric</th><th>slice</th><th>candidate</th><th>baseline</th>"
                         "<th>difference</th><th>verdict</th><th>required</th><th>reason</th></tr>")
            for g in dom["gates"]:
                parts.append(f"<tr><td>{e(g['id'])}</td><td>{e(g['metric'])}</td><td>{e(_slice_label(g))}</td>"
                             f"<td>{e(format_estimate(g['candidate']))}</td><td>{e(format_estimate(g.get('baseline')))}</td>"
                             f"<td>{e(_fmt_diff(g.get('difference')))}</td><td class='{e(g['verdict'])}'>{e(g['verdict'])}</td>"
                             f"<td>{'yes' if g['required'] else 'advisory'}</td><td>{e(g['reason'])}</td></tr>")
            parts.append("</table>")
        perf = (results.get("performance") or {}).get(name)
        plots = (("Candidate vs baseline", _gate_plot(dom)),
                 ("Latency and throughput on ONNX Runtime", _performance_plot(perf)) if perf else ("", None),
                 ("Per slice", None if perf else _slice_plot(name, dom["summary"])))
        for title, img in plots:
            if img:
                parts.append(f"<h3>{e(title)}</h3><img alt='{e(title)} ({e(name)})' src='data:image/png;base64,{img}'>")
        failing = [c for c in dom.get("cases_detail", []) if any(not m["passed"] for m in c["metrics"].values())]
        if failing:
            parts.append(f"<details><summary>{len(failing)} cases with a failing metric</summary><table>"
                         "<tr><th>case</th><th>input</th><th>output</th><th>failed</th></tr>")
            for c in failing[:200]:
                bad = ", ".join(k for k, m in c["metrics"].items() if not m["passed"])
                parts.append(f"<tr><td>{e(c['id'])}</td><td>{e(c['input'][:300])}</td><td><pre>{e(c['output'][:300])}</pre></td>"
                             f"<td>{e(bad)}</td></tr>")
            parts.append("</table></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def read_results(path, what: str, fix: str, expected: str) -> dict:
    """A results.json written by evaluate, checked against its schema; BadInput naming the file and
    the fix otherwise (``what``: what it is read as; ``fix``: what to pass instead)."""
    from llmops_ci.errors import BadInput

    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise BadInput(f"{path}: cannot read {what} ({exc.strerror}); {fix}") from None
    except ValueError as exc:
        raise BadInput(f"{path}: not JSON ({exc}); {fix}") from None
    problems = results_problems(data) if isinstance(data, dict) else ["(top): not an object"]
    if problems:
        raise BadInput(f"{path}: {problems[0]} (expected {expected})")
    return data


def results_problems(results: dict) -> list[str]:
    """Where ``results`` breaks ``schemas/results.schema.json`` (empty when it conforms)."""
    from jsonschema import Draft202012Validator, FormatChecker

    from llmops_ci.schemacheck import load_schema

    validator = Draft202012Validator(load_schema("results.schema.json"), format_checker=FormatChecker())
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message[:200]}"
            for e in sorted(validator.iter_errors(results), key=lambda e: list(e.absolute_path))]


def write_reports(results: dict, report_dir: Path) -> dict[str, str]:
    """Write every format; return their paths."""
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": report_dir / "results.json",
        "markdown": report_dir / "summary.md",
        "junit": report_dir / "junit.xml",
        "html": report_dir / "report.html",
    }
    problems = results_problems(results)
    if problems:  # our own bug, not the user's: never write a results file that breaks its contract
        raise AssertionError("results.json would not match results.schema.json: " + "; ".join(problems[:5]))
    paths["results"].write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    paths["markdown"].write_text(markdown(results))
    paths["junit"].write_text(junit(results))
    paths["html"].write_text(html_report(results))
    return {k: str(v) for k, v in paths.items()}
