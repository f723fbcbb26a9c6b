"""Domain adaptation: a domain's prompt template, guardrails and knowledge, read from
``domain_suites/<domain>/domain.yaml``.

The same template and guardrails apply at evaluation time (to prompts and
answers) and when formatting fine-tuning data (``training.domain_adaptation``),
so the model is trained on what it is judged on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from llmops_ci.errors import ConfigProblems
from llmops_ci.schemacheck import apply_defaults, load_schema, schema_problems
from llmops_ci.shipped import shipped_dir
from llmops_ci.yamlfile import load_yaml

REDACTED = "[REDACTED]"
# E-mail has no offline library that beats a pattern; this is the pragmatic RFC 5322 subset.
EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
CARD_CANDIDATE = re.compile(r"\b(?:\d[ -]?){13,19}\b")
IBAN_CANDIDATE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
SSN_CANDIDATE = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")


@dataclass
class Domain:
    name: str
    spec: dict = field(default_factory=dict)

    @property
    def template(self) -> str:
        return self.spec.get("template", "{{ input }}")

    @property
    def knowledge(self) -> dict:
        return self.spec.get("knowledge", {})

    def render(self, text: str, record: dict, template: str | None = None) -> str:
        """The prompt for ``text`` (a case's input or a training record's prompt) in this domain's template."""
        fields = {**record, "input": text}
        return compile_template(template or self.template).render(**fields)

    def guard(self, text: str, record: dict) -> str:
        """Apply the output guardrails whose ``when`` matches ``record``."""
        from llmops_ci.evaluation.suite import case_matches

        for rail in self.spec.get("guardrails", []):
            if not case_matches(record, rail.get("when")):
                continue
            if rail["type"] == "redact_pii":
                text = redact_pii(text, self.knowledge.get("pii_regions"))
            elif rail["type"] == "ensure_suffix":
                suffix = rail.get("text", "")
                if suffix.strip() and suffix.strip() not in text:
                    text = text.rstrip() + suffix
        return text


def compile_template(source: str):
    """A Jinja template in a sandbox; a field the template names but the record lacks is an error."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True).from_string(source)


def known_domains(root: Path | None = None) -> list[str]:
    folders = ([root / "domain_suites"] if root else []) + [shipped_dir("domain_suites")]
    return sorted({p.parent.name for f in folders if f.is_dir() for p in f.glob("*/domain.yaml")})


def load_domain(name: str, near: Path | None = None) -> Domain:
    """The domain ``name``: ``domain.yaml`` in ``near`` (a suite folder), else the shipped one."""
    candidates = ([near / "domain.yaml"] if near else []) + [shipped_dir("domain_suites") / name / "domain.yaml"]
    for path in candidates:
        if path.is_file():
            doc = load_yaml(path)
            problems = schema_problems(doc, "domain.schema.json")
            if problems:
                raise ConfigProblems(problems)
            return Domain(name, apply_defaults(doc.data, load_schema("domain.schema.json")))
    return Domain(name, {})


def find_pii(text: str, regions=None) -> list[tuple[str, str]]:
    """(kind, text) of every piece of personal data found in ``text``.

    Phone numbers: Google's libphonenumber (``phonenumbers``); card numbers (Luhn), IBANs
    (mod 97) and US SSNs: ``python-stdnum`` validators on pattern candidates; e-mail: a pattern.
    """
    import phonenumbers
    from stdnum import iban, luhn
    from stdnum.us import ssn

    found = [("email", m.group(0)) for m in EMAIL.finditer(text)]
    for m in CARD_CANDIDATE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn.is_valid(digits):
            found.append(("card", m.group(0)))
    for m in IBAN_CANDIDATE.finditer(text):
        if iban.is_valid(m.group(0)):
            found.append(("iban", m.group(0)))
    for m in SSN_CANDIDATE.finditer(text):
        if ssn.is_valid(m.group(0)):
            found.append(("national_id", m.group(0)))
    taken = {t for _, t in found}
    for region in regions or ["US", "GB", "DE", "FR", "ES"]:
        for match in phonenumbers.PhoneNumberMatcher(text, region):
            raw = match.raw_string
            if raw not in taken and not any(raw in t or t in raw for t in taken):
                found.append(("phone", raw))
                taken.add(raw)
    return found


def redact_pii(text: str, regions=None) -> str:
    for _, value in sorted(find_pii(text, regions), key=lambda kv: -len(kv[1])):
        text = text.replace(value, REDACTED)
    return text
