"""Write action.yml and actions/<stage>/action.yml from one table, so the seven actions never drift apart.

Each is the same three steps (setup-python, install, run) — the stage chosen by input `command`
at the root, fixed in actions/<stage> — with its own inputs and outputs; the logic is
llmops_ci/action.py for all of them. A test fails when a
committed file differs from what this writes: run `python scripts/make_actions.py` after a change.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP_PYTHON = "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b # v5.3.0"

COMMON = {
    "config": ("Path of llmops.yaml, relative to working-directory.", "llmops.yaml"),
    "args": ("Further CLI arguments, split like a shell would.", ""),
    "working-directory": ("Folder to run in.", "."),
    "python-version": ("Python for actions/setup-python.", "3.11"),
    "setup-python": ("Set up Python with actions/setup-python (pip cache on); `false` uses the runner's Python.", "true"),
}
EXTRAS = {"extras": ("llmops-ci extras to install (default: {default}).", ""),
          "torch-index-url": ("Install torch from this index first (e.g. the CPU index on CPU runners).", "")}
TRACKING = {"mlflow-tracking-uri": ("MLflow tracking server (overrides registry.tracking_uri).", "")}
TOKEN = {"github-token": ("Token for check runs, commit statuses, the pull request comment, deployments and "
                          "approvals; the job's `permissions:` decide what it may do.", "${{ github.token }}")}
REQUIRED = object()

OUTPUTS = {
    "verdict": ("The stage's outcome: PASS / FAIL / INCONCLUSIVE (evaluate), done / unchanged / refused (promote, "
                "rollback), valid / invalid (validate), registered (register), succeeded / failed (finetune), published (report)."),
    "model-version": "The registered model version the stage produced or acted on.",
    "report-path": "The HTML evaluation report.",
    "run-record": "The run record (.llmops/run.json) to hand to the next job.",
    "model-path": "Where the fine-tuned model is (a folder, or a URI for a cloud run).",
    "exit-code": "The CLI's exit code: 0 success, 1 a verdict said no, 2 bad input, 3 an outside system failed.",
}

STAGES = {
    "validate": {
        "description": "Check llmops.yaml and every file it refers to; each problem becomes an annotation on its file and line.",
        "inputs": {}, "outputs": ["verdict", "exit-code"], "extras": "none",
    },
    "finetune": {
        "description": "Fine-tune the base model from llmops.yaml, on the runner or as a SkyPilot managed job.",
        "inputs": {"backend": ("`local` or `skypilot` (default: training.backend).", ""),
                   "detach": ("With skypilot: submit and return at once (`true`/`false`).", "false"),
                   **EXTRAS, **TRACKING},
        "outputs": ["verdict", "model-path", "run-record", "exit-code"], "extras": "train",
    },
    "evaluate": {
        "description": "Run the domain suites and decide the gates; the Markdown report becomes the job summary.",
        "inputs": {"model": ("Model directory or models:/NAME@ALIAS (default: what finetune produced).", ""),
                   "suites": ("Suites to run, space- or comma-separated (default: evaluation.suites).", ""),
                   "baseline": ("Alias to compare with (default: evaluation.baseline_alias).", ""),
                   "report-dir": ("Where the reports go (default: .llmops/report).", ""),
                   "backend": ("`local` or `skypilot`.", ""),
                   "publish": ("Publish a check per domain (`llmops/<domain>`) and the pull request comment "
                               "(`llmops-ci report`); needs `checks: write`, `pull-requests: write`.", "true"),
                   **EXTRAS, **TRACKING, **TOKEN},
        "outputs": ["verdict", "model-version", "report-path", "run-record", "exit-code"], "extras": "eval,github",
    },
    "register": {
        "description": "Register the fine-tuned model in MLflow with its provenance; alias `candidate` moves to it.",
        "inputs": {"model": ("Model directory (default: what finetune produced).", ""), **TRACKING},
        "outputs": ["verdict", "model-version", "run-record", "exit-code"], "extras": "none",
    },
    "promote": {
        "description": "Move an environment's alias to a version when its gates, the ladder and the approvals hold.",
        "inputs": {"to": ("Environment to promote to.", REQUIRED),
                   "version": ("Version to promote (default: the one on the rung below).", ""),
                   **TRACKING, **TOKEN},
        "outputs": ["verdict", "model-version", "exit-code"], "extras": "github",
    },
    "rollback": {
        "description": "Point an environment back at its previous version (or `to`).",
        "inputs": {"env": ("Environment to roll back.", REQUIRED),
                   "to": ("Version to go back to (default: the previous one).", ""),
                   **TRACKING, **TOKEN},
        "outputs": ["verdict", "model-version", "exit-code"], "extras": "github",
    },
}
# The root action (`uses: llmops-ci/llmops-ci@v1`): any stage, chosen by `command`.
ROOT_ACTION = {
    "description": ("Run one stage of an LLM pipeline described by llmops.yaml — validate, finetune, evaluate "
                    "(domain gates), register (MLflow), promote or rollback — with step outputs, a job summary and "
                    "error annotations."),
    "inputs": {"command": ("The stage to run: validate, finetune, evaluate, register, promote, rollback or report "
                           "(publish an earlier evaluate's checks and comment).", REQUIRED),
               **EXTRAS, **TOKEN, **TRACKING},
    "outputs": ["verdict", "model-version", "report-path", "run-record", "exit-code"],
    "extras": "by command: finetune → train, evaluate → eval,github, promote/rollback/report → github, others → none",
}

# Inputs that the run step reads under a fixed name (everything else is LLMOPS_INPUT_<NAME>).
FIXED_ENV = {"command": "LLMOPS_COMMAND", "config": "LLMOPS_CONFIG", "args": "LLMOPS_ARGS", "github-token": "LLMOPS_GITHUB_TOKEN",
             "mlflow-tracking-uri": "LLMOPS_TRACKING_URI"}
NOT_FOR_RUN = ("working-directory", "python-version", "setup-python", "extras", "torch-index-url", "command")


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(stage: str | None, spec: dict) -> str:
    """One action: a stage's (``stage`` fixed) or the root one (``stage`` None: chosen by input ``command``)."""
    inputs = {"command": spec["inputs"]["command"], **COMMON, **spec["inputs"]} if stage is None else \
        {**COMMON, **spec["inputs"]}
    command = stage or "${{ inputs.command }}"
    action_path = "${{ github.action_path }}" + ("" if stage is None else "/../..")
    lines = [f"# Generated by scripts/make_actions.py: edit the table there, not this file.",
             f"name: llmops-ci{'' if stage is None else ' ' + stage}", f"description: {quote(spec['description'])}",
             "author: llmops-ci developers", "branding:", "  icon: check-circle", "  color: green", "", "inputs:"]
    for name, (text, default) in inputs.items():
        lines.append(f"  {name}:")
        lines.append(f"    description: {quote(text.format(default=spec['extras']))}")
        if default is REQUIRED:
            lines.append("    required: true")
        else:
            lines.append(f"    default: {quote(default)}")
    lines += ["", "outputs:"]
    for name in spec["outputs"]:
        lines += [f"  {name}:", f"    description: {quote(OUTPUTS[name])}",
                  f"    value: ${{{{ steps.run.outputs.{name} }}}}"]
    extras_env = ["        LLMOPS_EXTRAS: ${{ inputs.extras }}",
                  "        LLMOPS_TORCH_INDEX_URL: ${{ inputs.torch-index-url }}"] if "extras" in inputs else []
    run_env = [f"        LLMOPS_COMMAND: {command}"]
    for name in inputs:
        if name in NOT_FOR_RUN:
            continue
        var = FIXED_ENV.get(name) or "LLMOPS_INPUT_" + name.upper().replace("-", "_")
        run_env.append(f"        {var}: ${{{{ inputs.{name} }}}}")
    lines += ["", "runs:", "  using: composite", "  steps:",
              "    - name: Set up Python", "      if: inputs.setup-python == 'true'", f"      uses: {SETUP_PYTHON}",
              "      with:", "        python-version: ${{ inputs.python-version }}", "        cache: pip",
              "        # llmops.yaml is in every caller's checkout; the action's pyproject.toml is not.",
              "        cache-dependency-path: ${{ inputs.working-directory }}/${{ inputs.config }}", "",
              "    - name: Install llmops-ci", "      shell: bash", "      env:",
              f"        LLMOPS_ACTION_PATH: {action_path}", f"        LLMOPS_COMMAND: {command}",
              *extras_env,
              '      run: python "$LLMOPS_ACTION_PATH/llmops_ci/action.py" install', "",
              f"    - name: llmops-ci {command}", "      id: run", "      shell: bash",
              "      working-directory: ${{ inputs.working-directory }}", "      env:", *run_env,
              '        MLFLOW_DISABLE_TELEMETRY: "true"', '        DEEPEVAL_TELEMETRY_OPT_OUT: "1"',
              "      run: python -m llmops_ci.action run", ""]
    return "\n".join(lines)


TEMPLATE = ROOT / "workflows" / "gitlab" / "llmops.gitlab-ci.yml"
COMPONENT = ROOT / "templates" / "llmops.yml"


def component_text() -> str:
    """The GitLab template as a CI/CD component: the catalog wants it under templates/."""
    return ("# Generated by scripts/make_actions.py from workflows/gitlab/llmops.gitlab-ci.yml: edit that file.\n"
            "# As a CI/CD component:\n"
            "#   include:\n"
            "#     - component: $CI_SERVER_FQDN/llmops-ci/llmops-ci/llmops@v1\n"
            "#       inputs:\n"
            "#         domains: [medical, finance, safety]\n"
            + TEMPLATE.read_text())


def expected() -> dict[Path, str]:
    out = {ROOT / "action.yml": render(None, ROOT_ACTION)}
    out.update({ROOT / "actions" / stage / "action.yml": render(stage, spec) for stage, spec in STAGES.items()})
    out[COMPONENT] = component_text()
    return out


README = ROOT / "README.md"
START, END = "<!-- actions-reference:start -->", "<!-- actions-reference:end -->"


def _cell(text) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ").strip()


def reference() -> str:
    """README tables of every action's and reusable workflow's inputs and outputs, read from the files."""
    import yaml

    out = []
    for rel in ["action.yml", *(f"actions/{stage}/action.yml" for stage in STAGES)]:
        data = yaml.safe_load((ROOT / rel).read_text())
        where = "llmops-ci/llmops-ci@v1" if rel == "action.yml" else f"llmops-ci/llmops-ci/{Path(rel).parent}@v1"
        out += [f"#### `uses: {where}`", "", _cell(data["description"]), "",
                "| input | default | description |", "|---|---|---|"]
        for name, spec in data["inputs"].items():
            default = "*required*" if spec.get("required") else f"`{spec.get('default')}`" if spec.get("default") else ""
            out.append(f"| `{name}` | {_cell(default)} | {_cell(spec.get('description'))} |")
        out += ["", "| output | description |", "|---|---|"]
        out += [f"| `{name}` | {_cell(spec.get('description'))} |" for name, spec in data["outputs"].items()]
        out.append("")
    for rel in (".github/workflows/llmops-pr.yml", ".github/workflows/llmops-release.yml"):
        data = yaml.safe_load((ROOT / rel).read_text())
        call = data[True]["workflow_call"] if True in data else data["on"]["workflow_call"]
        out += [f"#### `uses: llmops-ci/llmops-ci/{rel}@v1` (reusable workflow)", "",
                "| input | type | default | description |", "|---|---|---|---|"]
        for name, spec in call.get("inputs", {}).items():
            default = spec.get("default")
            out.append(f"| `{name}` | {spec.get('type')} | {_cell(f'`{default}`' if default not in (None, '') else '')} "
                       f"| {_cell(spec.get('description'))} |")
        out += ["", "| secret | required | description |", "|---|---|---|"]
        for name, spec in call.get("secrets", {}).items():
            out.append(f"| `{name}` | {'yes' if spec.get('required') else 'no'} | {_cell(spec.get('description'))} |")
        out += ["", "| output | description |", "|---|---|"]
        out += [f"| `{name}` | {_cell(spec.get('description'))} |" for name, spec in call.get("outputs", {}).items()]
        out.append("")
    return "\n".join(out)


def readme_text() -> str:
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{reference()}{END}{tail}"


def main() -> int:
    for path, text in expected().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    README.write_text(readme_text())
    print("wrote the actions reference in README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
