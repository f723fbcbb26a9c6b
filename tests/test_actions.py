"""The user-facing library — action.yml, actions/*, the reusable workflows, the copy-paste
callers and the GitLab template — checked with the real tools: actionlint, zizmor, SchemaStore's
schemas (check-jsonschema), act running a workflow on this machine, and gitlab-ci-local running
a pipeline that includes the template.

What the runs cannot cover here, and so leave out: fetching actions from GitHub (act clones
every remote action a composite names, even in a skipped step, and there is no GitHub here, so
the act run uses a copy of the actions without their actions/setup-python step: the runner's
own Python stands in), GitHub's artifact service, and container images for GitLab jobs (the
shell executor runs them on this machine).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, git_commit_all

ACTIONS = [REPO / "action.yml", *sorted((REPO / "actions").glob("*/action.yml"))]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml")) + sorted((REPO / "workflows" / "github").glob("*.yml"))
GITLAB = [REPO / "workflows" / "gitlab" / "llmops.gitlab-ci.yml", REPO / "templates" / "llmops.yml"]


def tool(name: str) -> str:
    path = shutil.which(name) or (str(Path(sys.executable).parent / name) if (Path(sys.executable).parent / name).exists() else None)
    if not path:
        raise RuntimeError(f"{name} is not installed: scripts/test.sh installs it (pip install -e '.[test]')")
    return path


def run(*cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw)


# -- static checks ----------------------------------------------------------------------------------

def test_stage_actions_are_generated_from_the_one_table():
    sys.path.insert(0, str(REPO / "scripts"))
    import make_actions

    for path, text in make_actions.expected().items():
        assert path.read_text() == text, f"{path} is stale: run python scripts/make_actions.py"
    assert {p.parent.name for p in ACTIONS[1:]} == {"validate", "finetune", "evaluate", "register", "promote", "rollback"}


def test_actionlint_accepts_every_workflow():
    proc = run(tool("actionlint"), *WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schemastore_schemas_accept_every_action_workflow_and_template(tmp_path):
    proc = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", *ACTIONS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # A template with `spec: inputs` is two YAML documents; GitLab's schema judges each.
    for template in GITLAB:
        docs = list(yaml.safe_load_all(template.read_text()))
        assert len(docs) == 2 and "inputs" in docs[0]["spec"]
        for i, doc in enumerate(docs):
            part = tmp_path / f"{template.stem}-{i}.json"
            part.write_text(json.dumps(doc))
            proc = run(tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", part)
            assert proc.returncode == 0, f"{template} document {i}: {proc.stdout}{proc.stderr}"


def test_readme_tables_match_the_actions_and_workflows():
    sys.path.insert(0, str(REPO / "scripts"))
    import make_actions

    assert (REPO / "README.md").read_text() == make_actions.readme_text(), "run python scripts/make_actions.py"


def test_the_component_is_the_template():
    sys.path.insert(0, str(REPO / "scripts"))
    import make_actions

    assert (REPO / "templates" / "llmops.yml").read_text() == make_actions.component_text()


def test_zizmor_finds_nothing_medium_or_high():
    proc = run(tool("zizmor"), "--offline", "--format", "json", REPO, cwd=REPO)
    findings = json.loads(proc.stdout)
    serious = [(f["ident"], f["locations"][0]["symbolic"]["key"]) for f in findings
               if f["determinations"]["severity"] in ("Medium", "High") and not f.get("ignored")]
    assert serious == []
    # The low ones are the deliberate `uses: ./` of the project's own CI (dogfooding).
    assert {f["ident"] for f in findings} <= {"self-repository"}


def test_third_party_actions_are_pinned_by_full_sha_and_inputs_reach_shell_only_through_env():
    import re

    for path in ACTIONS + WORKFLOWS:
        data = yaml.safe_load(path.read_text())
        steps = data["runs"]["steps"] if "runs" in data else [
            s for job in data["jobs"].values() for s in job.get("steps", [])]
        uses = [s["uses"] for s in steps if "uses" in s] + [
            job["uses"] for job in data.get("jobs", {}).values() if "uses" in job]
        for ref in uses:
            if ref.startswith(("./", "llmops-ci/llmops-ci")):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path}: {ref} is not pinned by commit SHA"
        for step in steps:
            assert "${{" not in step.get("run", ""), f"{path}: an expression inside a run script: pass it through env:"
    assert any("jobs" in yaml.safe_load(p.read_text()) for p in WORKFLOWS)  # the loop saw workflows


# -- the action's program, with the real CLI --------------------------------------------------------

def action_env(tmp_path: Path, **extra) -> dict:
    out, summary = tmp_path / "github_output", tmp_path / "summary.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMOPS_", "MLFLOW_TRACKING"))}
    env.update(GITHUB_OUTPUT=str(out), GITHUB_STEP_SUMMARY=str(summary), **extra)
    return env


def outputs(tmp_path: Path) -> dict:
    return dict(line.split("=", 1) for line in (tmp_path / "github_output").read_text().splitlines())


def test_action_turns_validate_problems_into_annotations_on_file_and_line(project, tmp_path):
    cfg = project / "llmops.yaml"
    text = cfg.read_text().replace("  seed: 42\n", "  seed: forty-two\n").replace("training:\n", "training:\n  epoks: 3\n")
    cfg.write_text(text)
    lines = text.splitlines()
    proc = run(sys.executable, "-m", "llmops_ci.action", "run", cwd=project,
               env=action_env(tmp_path, LLMOPS_COMMAND="validate", LLMOPS_CONFIG="llmops.yaml"))
    assert proc.returncode == 2
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    seed_line = next(i for i, line in enumerate(lines, 1) if "seed: forty-two" in line)
    epoks_line = next(i for i, line in enumerate(lines, 1) if "epoks" in line)
    assert any(f"line={seed_line}," in e and "training.seed" in e for e in errors), errors
    assert any(f"line={epoks_line}," in e and "did you mean `epochs`?" in e for e in errors), errors
    assert all("file=llmops.yaml," in e for e in errors)
    assert outputs(tmp_path) | {"run-record": ""} == {"exit-code": "2", "verdict": "invalid", "model-version": "",
                                                      "report-path": "", "run-record": ""}
    summary = (tmp_path / "summary.md").read_text()
    assert "llmops-ci validate: invalid" in summary and "training.seed" in summary


def test_action_args_never_reach_a_shell(project, tmp_path):
    marker = tmp_path / "pwned"
    proc = run(sys.executable, "-m", "llmops_ci.action", "run", cwd=project,
               env=action_env(tmp_path, LLMOPS_COMMAND="validate", LLMOPS_ARGS=f"; touch {marker}"))
    assert proc.returncode == 2 and not marker.exists()
    proc = run(sys.executable, "-m", "llmops_ci.action", "run", cwd=project,
               env=action_env(tmp_path, LLMOPS_COMMAND="deploy"))
    assert proc.returncode == 2 and "input command: expected one of validate" in proc.stdout


# -- act: the project's own CI job, which uses the actions with `uses: ./` ----------------------------

def strip_setup_python(root: Path) -> None:
    """The one change the act run needs: no actions/setup-python step (it cannot be fetched here)."""
    for path in [root / "action.yml", *(root / "actions").glob("*/action.yml")]:
        data = yaml.safe_load(path.read_text())
        data["runs"]["steps"] = [s for s in data["runs"]["steps"] if "setup-python" not in s.get("uses", "")]
        path.write_text(yaml.safe_dump(data, sort_keys=False))


def runner_venv(tmp_path: Path) -> Path:
    """The jobs' Python: this one's packages, plus room for the action's own `pip install`
    (which must not replace the llmops-ci this test session runs)."""
    venv = tmp_path / "runner-venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    return venv / "bin"


def assert_host_install_untouched() -> None:
    """The jobs installed llmops-ci into their own venv: this interpreter still imports the tree under test."""
    where = subprocess.run([sys.executable, "-c", "import llmops_ci; print(llmops_ci.__file__)"], cwd="/",
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(REPO.resolve()), f"a job replaced the host's llmops-ci: {where}"


def copy_repo(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for rel in files:
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.mark.slow
def test_act_runs_the_dogfood_job_end_to_end(tmp_path):
    """The project's own CI job under act, with the job's token pointed at the fake GitHub (the
    API is the one thing act cannot bring): evaluate leaves a check run per domain, promote a
    deployment."""
    from fake_github import FakeGitHub

    fake = FakeGitHub().start()
    root = copy_repo(tmp_path / "repo")
    strip_setup_python(root)
    example = yaml.safe_load((root / "examples" / "llmops.yaml").read_text())
    example["forge"] = {"type": "auto", "api_url": fake.base, "repository": "acme/llm"}
    (root / "examples" / "llmops.yaml").write_text(yaml.safe_dump(example, sort_keys=False))
    head = git_commit_all(root)
    bin_dir = runner_venv(tmp_path)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("LLMOPS_", "MLFLOW_TRACKING"))},
           "PATH": f"{bin_dir}:{os.environ['PATH']}", "LLMOPS_ACTOR": "ci-bot"}
    token = "ghs_actJobToken0123456789abcdef"
    try:
        proc = run(tool("act"), "push", "-j", "dogfood", "-P", "ubuntu-latest=-self-hosted", "--env",
                   f"PATH={bin_dir}:{os.environ['PATH']}", "-s", f"GITHUB_TOKEN={token}", cwd=root, env=env,
                   timeout=1500)
    finally:
        fake.stop()
    log = proc.stdout + proc.stderr
    (tmp_path / "run.log").write_text(log)  # kept by pytest for a look after a failure
    assert proc.returncode == 0, log[-6000:]
    assert "Success - Main Check the outputs" in log, log[-6000:]
    for expected in ("verdict=valid", "verdict=succeeded", "verdict=PASS", "model-version=1", "verdict=done"):
        assert expected in log, (expected, log[-6000:])
    # The job summary got the evaluation's Markdown report.
    assert "llmops/medical" in log or "medical: PASS" in log
    # GitHub got a check run per domain on the pushed commit, and the staging deployment.
    assert not fake.errors, fake.errors
    for suite in example["evaluation"]["suites"]:
        (check,) = fake.runs_named(f"llmops/{suite}", head)
        assert check["conclusion"] == "success", (suite, check["output"]["title"])
    (deployment,) = fake.deployments.values()
    assert deployment["environment"] == "staging" and deployment["ref"] == head
    assert [s["state"] for s in deployment["statuses"]] == ["in_progress", "success"]
    assert {r["authorization"] for r in fake.requests} == {f"token {token}"} and token not in log


# -- act: the copy-paste PR workflow, through the reusable workflow, in a user's repository ----------

ARTIFACT_STANDINS = {
    # GitHub's artifact service is not here: these keep upload/download-artifact v4's layout
    # (the paths' common folder is the artifact's root) in a folder on this machine.
    "upload-artifact": """name: upload-artifact stand-in
inputs:
  name: {required: true}
  path: {required: true}
  include-hidden-files: {default: "false"}
  retention-days: {default: "1"}
runs:
  using: composite
  steps:
    - shell: bash
      env: {NAME: "${{ inputs.name }}", PATHS: "${{ inputs.path }}"}
      run: |
        python - <<'PY'
        import os, shutil
        from pathlib import Path
        paths = [Path(p).resolve() for p in os.environ["PATHS"].split("\\n") if p.strip() and Path(p).exists()]
        if not paths:
            raise SystemExit(print("::warning::no files to upload") or 0)  # upload-artifact: if-no-files-found: warn
        root = Path(os.path.commonpath([str(p if p.is_dir() and len(paths) == 1 else p.parent) for p in paths]))
        dest = Path(os.environ["ARTIFACT_STORE"]) / os.environ["NAME"]
        for p in paths:
            target = dest / p.relative_to(root)
            (shutil.copytree(p, target, dirs_exist_ok=True) if p.is_dir() else
             (target.parent.mkdir(parents=True, exist_ok=True), shutil.copy2(p, target)))
        PY
""",
    "download-artifact": """name: download-artifact stand-in
inputs:
  name: {required: true}
  path: {default: "."}
runs:
  using: composite
  steps:
    - shell: bash
      env: {NAME: "${{ inputs.name }}", DEST: "${{ inputs.path }}"}
      run: mkdir -p "$DEST" && cp -a "$ARTIFACT_STORE/$NAME/." "$DEST/"
""",
}


def user_repository(root: Path, project: Path) -> Path:
    """A user's repository: the example project, the copy-paste caller, and (since nothing can
    be fetched from GitHub here) llmops-ci's reusable workflow and actions vendored at local
    paths, with `uses:` pointing at them."""
    shutil.copytree(project, root)
    vendored = copy_repo(root / ".llmops-ci")
    strip_setup_python(vendored)
    for name, text in ARTIFACT_STANDINS.items():
        (root / ".standins" / name).mkdir(parents=True)
        (root / ".standins" / name / "action.yml").write_text(text)
    workflows = root / ".github" / "workflows"
    workflows.mkdir(parents=True)
    reusable = (REPO / ".github" / "workflows" / "llmops-pr.yml").read_text()
    reusable = reusable.replace("llmops-ci/llmops-ci/actions/", "./.llmops-ci/actions/").replace("@v1\n", "\n")
    import re

    reusable = re.sub(r"actions/(upload|download)-artifact@[0-9a-f]{40}.*", r"./.standins/\1-artifact", reusable)
    (workflows / "llmops-pr.yml").write_text(reusable)
    caller = yaml.safe_load((REPO / "workflows" / "github" / "llmops-pr.yml").read_text())
    caller = {("on" if k is True else k): v for k, v in caller.items()}  # YAML 1.1 reads `on:` as true
    caller["jobs"]["llmops"]["uses"] = "./.github/workflows/llmops-pr.yml"
    caller["jobs"]["llmops"]["with"]["domains"] = '["safety"]'
    caller["jobs"]["check"] = {  # the test's own job: what the caller sees of the reusable workflow
        "needs": "llmops", "runs-on": "ubuntu-latest",
        "steps": [{"env": {"VERSION": "${{ needs.llmops.outputs.model-version }}",
                           "FINETUNE": "${{ needs.llmops.outputs.finetune-verdict }}"},
                   "run": 'echo "caller saw version=$VERSION finetune=$FINETUNE"; test "$VERSION" = 1'}]}
    (workflows / "llmops.yml").write_text(yaml.safe_dump(caller, sort_keys=False))
    (root / ".gitignore").write_text(".llmops/\n")
    git_commit_all(root)
    return root


@pytest.mark.slow
def test_act_runs_the_copy_paste_pr_workflow_end_to_end(project, tmp_path):
    data = yaml.safe_load((project / "llmops.yaml").read_text())
    data["evaluation"].update(suites=["safety"], gates=["safety"])
    (project / "llmops.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    root = user_repository(tmp_path / "user-repo", project)
    bin_dir = runner_venv(tmp_path)
    store, artifacts = tmp_path / "team-mlflow.db", tmp_path / "artifact-store"
    artifacts.mkdir()
    path = f"{bin_dir}:{os.environ['PATH']}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("LLMOPS_", "MLFLOW_TRACKING"))},
           "PATH": path, "LLMOPS_ACTOR": "ci-bot"}
    proc = run(tool("act"), "pull_request", "-W", ".github/workflows/llmops.yml", "-P", "ubuntu-latest=-self-hosted",
               "--env", f"PATH={path}", "--env", f"ARTIFACT_STORE={artifacts}",
               "-s", f"MLFLOW_TRACKING_URI=sqlite:///{store}", cwd=root, env=env, timeout=1500)
    log = proc.stdout + proc.stderr
    (tmp_path / "run.log").write_text(log)  # kept by pytest for a look after a failure
    assert proc.returncode == 0, log[-8000:]
    assert "caller saw version=1 finetune=succeeded" in log, log[-6000:]
    assert "::set-output:: verdict=PASS" in log, log[-6000:]
    assert "# Model card: clinic-assistant version 1" in log  # register's job summary carries the card
    # The run record that travelled between the jobs, and the registry they shared.
    record = json.loads((artifacts / "llmops-finetune" / "run.json").read_text())
    assert record["stages"]["finetune"]["status"] == "succeeded"
    assert (artifacts / "llmops-report-safety" / "junit.xml").is_file()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}", registry_uri=f"sqlite:///{store}")  # not the process-wide default
    candidate = client.get_model_version_by_alias("clinic-assistant", "candidate")
    assert_host_install_untouched()
    assert str(candidate.version) == "1" and candidate.tags["llmops.run_id"] == record["run_id"]
    evaluated = client.search_runs([client.get_experiment_by_name("llmops/clinic-assistant").experiment_id],
                                   "tags.`llmops.stage` = 'evaluate'")
    assert [r.data.tags["llmops.verdict"] for r in evaluated] == ["PASS"]


# -- gitlab-ci-local: a pipeline that includes the template with inputs ------------------------------

@pytest.mark.slow
def test_gitlab_ci_local_runs_the_template_end_to_end(project, tmp_path):
    """validate → finetune → evaluate (safety) → register → promote to staging, under the shell
    executor. The jobs share an MLflow store as a team's jobs share its server."""
    data = yaml.safe_load((project / "llmops.yaml").read_text())
    data["evaluation"].update(suites=["safety"], gates=["safety"])
    for env in data["environments"]:
        env["requires"]["gates"] = ["safety"]
    (project / "llmops.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.copy(REPO / "workflows" / "gitlab" / "llmops.gitlab-ci.yml", project / "llmops.gitlab-ci.yml")
    (project / ".gitlab-ci.yml").write_text(yaml.safe_dump({"include": [{
        "local": "llmops.gitlab-ci.yml",
        "inputs": {"domains": ["safety"], "install": str(REPO), "torch-index-url": ""}}]}))
    (project / ".gitignore").write_text(".llmops/\n.gitlab-ci-local/\n")
    git_commit_all(project)
    bin_dir = runner_venv(tmp_path)
    store = tmp_path / "team-mlflow.db"
    # gitlab-ci-local's shell jobs do not keep this PATH: name the jobs' interpreter, or their
    # pip install would replace this session's llmops-ci and its dependencies.
    inputs = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    inputs["include"][0]["inputs"]["python"] = str(bin_dir / "python")
    (project / ".gitlab-ci.yml").write_text(yaml.safe_dump(inputs))
    git_commit_all(project, "runner python", init=False)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("LLMOPS_", "MLFLOW_TRACKING"))},
           "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = run(tool("gitlab-ci-local"), "--force-shell-executor", "--shell-isolation",
               "--variable", f"MLFLOW_TRACKING_URI=sqlite:///{store}", "--variable", "GITLAB_USER_LOGIN=ci-bot",
               cwd=project, env=env, timeout=1500)
    log = proc.stdout + proc.stderr
    (tmp_path / "run.log").write_text(log)  # kept by pytest for a look after a failure
    assert proc.returncode == 0, log[-6000:]
    import re

    for job in ("llmops-validate", "llmops-finetune", r"llmops-evaluate: \[safety\]", "llmops-register",
                "llmops-promote-staging"):
        assert re.search(rf"^\s*PASS\s+{job}\s*$", log, re.M), (job, log[-3000:])
    assert "ok  gates:safety: PASS" in log  # promote read the verdict evaluate stored
    assert "llmops/safety: PASS" in log
    # The JUnit report the merge request would show, and the registry the jobs shared.
    junit = next(project.glob(".gitlab-ci-local/artifacts/llmops-evaluate*/**/junit.xml"), None)
    assert junit is not None and 'name="llmops/safety"' in junit.read_text()
    card = next(project.glob(".gitlab-ci-local/artifacts/llmops-register/**/model-card.md"), None)
    assert card is not None and "### safety: PASS" in card.read_text()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{store}", registry_uri=f"sqlite:///{store}")  # not the process-wide default
    staged = client.get_model_version_by_alias("clinic-assistant", "staging")
    assert_host_install_untouched()
    assert str(staged.version) == "1" and staged.tags["llmops.author"] == "ci-bot"
