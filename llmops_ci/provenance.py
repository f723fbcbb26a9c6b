"""Provenance: what exactly went into a model (code, config, data, packages).

Hashes are streamed so datasets and models of any size are fine. Nothing here
imports a heavy library: versions come from package metadata.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

CHUNK = 1 << 20
# Packages whose versions decide what a run produced.
TRACKED_PACKAGES = ("llmops-ci", "mlflow", "torch", "transformers", "peft", "accelerate",
                    "deepeval", "onnxruntime", "skypilot", "jsonschema", "PyYAML")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_files(root: Path) -> list[Path]:
    """Files under ``root`` in a stable order (relative POSIX path)."""
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())


def sha256_tree(root: Path) -> str:
    """Content hash of a directory: every file's relative path and bytes.

    Stable across machines and copy times (no mtimes, no permissions), so the
    same model saved twice or downloaded back from MLflow hashes the same.
    """
    digest = hashlib.sha256()
    for path in tree_files(root):
        rel = path.relative_to(root).as_posix()
        digest.update(rel.encode("utf-8") + b"\0" + sha256_file(path).encode("ascii") + b"\n")
    return digest.hexdigest()


def git_info(cwd: Path) -> dict:
    """Commit, dirty flag and branch of the checkout at ``cwd``.

    Falls back to the CI's own variables when there is no git (e.g. a source
    tarball in a job), so a record always says which commit it came from.
    """
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit:
        status = git("status", "--porcelain", "--untracked-files=no")
        branch = git("rev-parse", "--abbrev-ref", "HEAD")
        return {"commit": commit, "dirty": bool(status), "branch": branch}
    env_commit = os.environ.get("GITHUB_SHA") or os.environ.get("CI_COMMIT_SHA")
    env_branch = os.environ.get("GITHUB_REF_NAME") or os.environ.get("CI_COMMIT_REF_NAME")
    return {"commit": env_commit, "dirty": None, "branch": env_branch}


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def dataset_entries(config) -> dict[str, list[dict]]:
    """Per split, each dataset's location, size and sha256 (remote ones: location only)."""
    from llmops_ci.config import is_remote

    out: dict[str, list[dict]] = {}
    for split, items in config.datasets().items():
        entries = []
        for item in items:
            if is_remote(item):
                entries.append({"uri": item, "sha256": None, "bytes": None})
                continue
            path = config.resolve(item)
            entries.append({"uri": item, "sha256": sha256_file(path), "bytes": path.stat().st_size})
        out[split] = entries
    return out


def actor() -> str:
    """Who is acting: the forge's user in CI, else the local user."""
    for var in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "LLMOPS_ACTOR", "USER", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    return "unknown"
