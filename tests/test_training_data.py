"""Training data checks: file and line for every bad record; nothing trains or registers on bad data."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from llmops_ci.errors import BadInput
from llmops_ci.training.data import read_examples


def write_lines(path, lines):
    path.write_text("".join(l + "\n" for l in lines))
    return path


def test_prompt_completion_and_chat_records(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", [
        json.dumps({"prompt": "a", "completion": " b", "tags": ["x"]}),
        "",
        json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}),
    ])
    examples = read_examples(f)
    assert [e.source for e in examples] == [f"{f}:1", f"{f}:3"]
    assert examples[0].completion == " b" and examples[1].messages[-1]["content"] == "hello"


@pytest.mark.parametrize("line, expected", [
    ('{"prompt": "a", "completion": ', "d.jsonl:2: malformed JSON at column"),
    ('{"prompt": "a"}', "d.jsonl:2: missing field completion"),
    ('{"text": "a"}', "d.jsonl:2: missing fields prompt, completion"),
    ('["a", "b"]', "d.jsonl:2: expected a JSON object per line, got list"),
    ('{"prompt": "a", "completion": "  "}', "d.jsonl:2: \"completion\" is empty"),
    ('{"messages": [{"role": "user", "content": "q"}]}', "d.jsonl:2: the last message must be the assistant's answer"),
    ('{"messages": [{"role": "robot", "content": "q"}]}', "d.jsonl:2: messages[0] must be"),
])
def test_bad_record_names_file_and_line(tmp_path, line, expected):
    f = write_lines(tmp_path / "d.jsonl", [json.dumps({"prompt": "ok", "completion": " fine"}), line])
    with pytest.raises(BadInput) as info:
        read_examples(f, "d.jsonl")
    assert str(info.value).startswith(expected), str(info.value)


def test_empty_dataset(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", ["", "  "])
    with pytest.raises(BadInput, match="dataset is empty"):
        read_examples(f, "d.jsonl")


def test_classifier_records_need_text_and_label(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", ['{"text": "fine", "label": "ok"}', '{"text": "x"}'])
    with pytest.raises(BadInput, match=r"d.jsonl:2: missing field label"):
        read_examples(f, "d.jsonl", kind="classifier")


@pytest.mark.parametrize("mutate, expected", [
    (lambda p: (p / "data" / "train.jsonl").write_text('{"prompt": "a", "completion": " b"}\n{oops\n'),
     "data/train.jsonl:2: malformed JSON"),
    (lambda p: (p / "data" / "train.jsonl").write_text('{"prompt": "a", "answer": " b"}\n'),
     "data/train.jsonl:1: missing field completion"),
    (lambda p: (p / "data" / "train.jsonl").write_text("\n"), "data/train.jsonl: dataset is empty"),
])
def test_finetune_refuses_bad_data_and_writes_nothing(project, mutate, expected):
    mutate(project)
    proc = run_cli("finetune", "--config", "llmops.yaml", cwd=project)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [expected + proc.stderr.strip().split(expected, 1)[1]]
    assert not (project / ".llmops").exists()  # no record, no model, no registry


def test_finetune_refuses_a_base_that_is_not_a_model(project):
    (project / "base").mkdir()
    (project / "base" / "README.md").write_text("not a model")
    cfg = project / "llmops.yaml"
    cfg.write_text(cfg.read_text().replace("base: builtin:tiny-gpt2", "base: ./base"))
    proc = run_cli("finetune", "--config", "llmops.yaml", cwd=project)
    assert proc.returncode == 2 and "model.base: not a model directory: no config.json" in proc.stderr
    assert not (project / ".llmops").exists()
