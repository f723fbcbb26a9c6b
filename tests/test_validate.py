"""`llmops-ci validate`: schema and meaning checks, one clear line per problem, exit 2."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from llmops_ci.cli import main
from llmops_ci.config import load_config
from llmops_ci.errors import ConfigProblems


@pytest.fixture(autouse=True)
def in_project(monkeypatch, project):
    monkeypatch.chdir(project)  # error lines name files relative to the working directory


def validate(capsys, config: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["validate", "--config", str(config), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def write(project: Path, text: str) -> Path:
    path = project / "llmops.yaml"
    path.write_text(textwrap.dedent(text))
    return path


MINIMAL = """\
    project: {name: demo}
    model: {base: builtin:tiny-gpt2}
    data: {train: data/train.jsonl}
"""


def test_shipped_example_is_valid(capsys, project):
    code, out, err = validate(capsys, project / "llmops.yaml")
    assert code == 0, err
    assert "valid" in out and err == ""


def test_minimal_config_gets_defaults(project):
    config = load_config(write(project, MINIMAL))
    assert config.data["training"]["backend"] == "local"
    assert config.data["training"]["seed"] == 42
    assert config.tracking_uri == f"sqlite:///{(project / '.llmops' / 'mlflow.db').resolve()}"
    assert config.model_name == "demo"


def test_config_hash_ignores_key_order_and_formatting(project, tmp_path):
    a = load_config(write(project, MINIMAL))
    reordered = project / "other.yaml"
    reordered.write_text("data:\n  train: data/train.jsonl\nmodel:\n  base: builtin:tiny-gpt2\nproject:\n  name: demo\n")
    b = load_config(reordered)
    assert a.sha256 == b.sha256
    changed = project / "changed.yaml"
    changed.write_text(textwrap.dedent(MINIMAL) + "training: {seed: 7}\n")
    assert load_config(changed).sha256 != a.sha256


@pytest.mark.parametrize("content, expected", [
    (None, "file not found"),
    ("", "file is empty"),
    ("- a\n- b\n", "top level is a list, expected a mapping"),
    ("project: {name: demo\nmodel: x\n", "line 2, column"),
])
def test_unreadable_files(capsys, tmp_path, content, expected):
    path = tmp_path / "llmops.yaml"
    if content is not None:
        path.write_text(content)
    code, out, err = validate(capsys, path)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(str(path)) or lines[0].startswith("llmops.yaml") or "llmops.yaml" in lines[0]
    assert expected in lines[0]
    assert "Traceback" not in err


def test_unknown_key_at_depth_gets_did_you_mean(capsys, project):
    path = write(project, MINIMAL + "    training:\n      lora: {alhpa: 4}\n")
    code, _, err = validate(capsys, path)
    assert code == 2
    assert "llmops.yaml: training.lora.alhpa: unknown key; did you mean `alpha`?" in err


def test_unknown_top_level_key(capsys, project):
    path = write(project, MINIMAL + "    enviroments: []\n")
    code, _, err = validate(capsys, path)
    assert code == 2 and "enviroments: unknown key; did you mean `environments`?" in err


def test_wrong_type_names_expected_and_got(capsys, project):
    path = write(project, MINIMAL + "    training: {seed: forty-two}\n")
    code, _, err = validate(capsys, path)
    assert code == 2
    assert 'training.seed: wrong type (expected integer, got string "forty-two")' in err


def test_missing_dataset(capsys, project):
    path = write(project, MINIMAL.replace("data/train.jsonl", "data/nope.jsonl"))
    code, _, err = validate(capsys, path)
    assert code == 2 and "data.train: dataset not found" in err and "nope.jsonl" in err


def test_model_directory_without_config_json(capsys, project):
    (project / "notamodel").mkdir()
    (project / "notamodel" / "weights.bin").write_bytes(b"0")
    path = write(project, MINIMAL.replace("builtin:tiny-gpt2", "./notamodel"))
    code, _, err = validate(capsys, path)
    assert code == 2 and "model.base: not a model directory: no config.json" in err


def test_every_problem_is_reported_at_once_one_line_each(capsys, project):
    path = write(project, """\
        project: {name: demo, ownr: me}
        model: {base: builtin:tiny-gpt3, kind: causal}
        data: {train: data/missing.jsonl}
        training: {seed: -1}
        environments:
          - {name: staging}
          - {name: staging, alias: latest}
    """)
    code, _, err = validate(capsys, path)
    lines = err.strip().splitlines()
    assert code == 2
    keys = [line.split(": ")[1] for line in lines]
    assert keys == ["project.ownr", "model.base", "model.kind", "data.train", "training.seed",
                    "environments[1].alias", "environments[1].name"], lines
    assert all(line.startswith("llmops.yaml: ") for line in lines)


def test_duplicate_yaml_keys_are_reported(capsys, project):
    path = write(project, MINIMAL + "    project: {name: again}\n")
    code, _, err = validate(capsys, path)
    assert code == 2 and "project: duplicate key (first at line 1, again at line 4)" in err


def test_environment_rules(capsys, project):
    path = write(project, MINIMAL + """\
    environments:
      - {name: staging, alias: candidate}
      - {name: production, alias: v2, requires: {approvals: 2, approvers: [alice], gates: [medical]}}
    """)
    code, _, err = validate(capsys, path)
    assert code == 2
    assert "environments[0].alias: alias `candidate` is reserved" in err
    assert "environments[1].alias: invalid MLflow alias 'v2'" in err
    assert "environments[1].requires.approvers: too few approvers (expected at least 2" in err
    assert "environments[1].requires.gates[0]: not a configured suite" in err


def test_json_format_lists_problems_with_lines(capsys, project):
    path = write(project, MINIMAL + "    training: {seed: x}\n")
    code, out, _ = validate(capsys, path, "--format", "json")
    report = json.loads(out)
    assert code == 2 and report["valid"] is False
    assert report["problems"] == [{"file": "llmops.yaml", "key": "training.seed", "line": 4,
                                   "message": 'wrong type (expected integer, got string "x")'}]


def test_load_config_raises_with_all_problems(project):
    path = write(project, MINIMAL + "    training: {seed: x, epochs: 0}\n")
    with pytest.raises(ConfigProblems) as info:
        load_config(path)
    assert [p.path for p in info.value.problems] == ["training.epochs", "training.seed"]


def test_validate_writes_nothing(capsys, project):
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    validate(capsys, project / "llmops.yaml")
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
