"""LLM judges for judge-based DeepEval metrics (GEval, ...), as ``DeepEvalBaseLLM`` subclasses.

Configured by ``evaluation.judge`` in llmops.yaml: an OpenAI-compatible
endpoint (the key is read from the environment variable named by
``api_key_env``, never from the file) or a local transformers model.
"""

from __future__ import annotations

import json
import os
import urllib.request

from deepeval.models import DeepEvalBaseLLM

from llmops_ci.errors import BadInput, ExternalFailure
from llmops_ci.evaluation.suite import judge_id  # noqa: F401  (kept here for callers of the judge module)
from llmops_ci.secrets import redact


class OpenAICompatibleJudge(DeepEvalBaseLLM):
    def __init__(self, model: str, base_url: str, api_key: str | None):
        self.model_name, self.base_url, self._key = model, base_url.rstrip("/"), api_key
        super().__init__(model)

    def load_model(self):
        return self.model_name

    def generate(self, prompt: str, *args, **kwargs) -> str:
        body = json.dumps({"model": self.model_name, "temperature": 0,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        req = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {self._key}"} if self._key else {})})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return json.loads(resp.read())["choices"][0]["message"]["content"]
        except OSError as exc:
            raise ExternalFailure(f"judge endpoint {self.base_url} failed: {redact(str(exc))}") from None

    async def a_generate(self, prompt: str, *args, **kwargs) -> str:
        return self.generate(prompt)

    def get_model_name(self) -> str:
        return f"openai-compatible:{self.model_name}"


class TransformersJudge(DeepEvalBaseLLM):
    """A local causal LM as the judge (greedy decoding)."""

    def __init__(self, path: str, max_new_tokens: int = 256):
        self.path, self.max_new_tokens = path, max_new_tokens
        self._model = self._tok = None
        super().__init__(path)

    def load_model(self):
        if self._model is None:
            import transformers

            self._tok = transformers.AutoTokenizer.from_pretrained(self.path)
            self._model = transformers.AutoModelForCausalLM.from_pretrained(self.path).eval()
        return self._model

    def generate(self, prompt: str, *args, **kwargs) -> str:
        import torch

        model = self.load_model()
        enc = self._tok(prompt, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                 pad_token_id=self._tok.pad_token_id or self._tok.eos_token_id)
        return self._tok.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)

    async def a_generate(self, prompt: str, *args, **kwargs) -> str:
        return self.generate(prompt)

    def get_model_name(self) -> str:
        return f"transformers:{self.path}"


def build_judge(spec: dict | None, config=None):
    if not spec:
        return None
    if spec["type"] == "openai":
        key = os.environ.get(spec.get("api_key_env", "OPENAI_API_KEY"))
        base = spec.get("base_url") or "https://api.openai.com/v1"
        return OpenAICompatibleJudge(spec["model"], base, key)
    path = str(config.resolve(spec["model"])) if config is not None and config.resolve(spec["model"]).is_dir() else spec["model"]
    if not os.path.isdir(path):
        raise BadInput(f"evaluation.judge.model: {spec['model']!r} is not a local model directory")
    return TransformersJudge(path)
