"""The README's config reference is generated from the schema and must match it."""

from conftest import REPO
from llmops_ci.schema_docs import BEGIN, END, table


def test_readme_config_reference_is_current():
    text = (REPO / "README.md").read_text()
    current = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    assert current.strip() == table().strip(), "run: python -m llmops_ci.schema_docs --write"


def test_every_schema_key_is_documented():
    from llmops_ci.schemacheck import load_schema

    def undocumented(node, path=""):
        out = []
        for key, sub in node.get("properties", {}).items():
            if "description" not in sub:
                out.append(path + key)
            out += undocumented(sub, path + key + ".")
        return out

    schema = load_schema("llmops.schema.json")
    missing = undocumented(schema) + undocumented(schema["$defs"]["environment"], "environments[].")
    assert missing == []
