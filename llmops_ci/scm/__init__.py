"""SCM integration: one small interface, so no other module knows which forge it runs on.

``open_forge(config)`` returns the forge of ``forge.type``; ``auto`` (the default) takes GitHub
inside GitHub Actions and GitLab inside GitLab CI when a token is at hand, else the local forge.
Every forge has the same methods:

    head_sha() / change_number() / run_url()   where this run is (commit, pull/merge request)
    publish_checks(sha, checks)                one check per domain, ``llmops/<domain>``
    upsert_report(number, body, marker)        the report comment, edited in place
    start_deployment(env, version, commit, action) → finish_deployment(started, state)
    approvals(chain, env, version, commit)     who approved, when (the ladder judges them)
    team_members(team)                         for ``team:NAME`` approvers

Implementations: ``local`` (scm/local.py), ``github`` (scm/github.py, github3.py) and
``gitlab`` (scm/gitlab.py, python-gitlab); only those modules import their forge's library.
"""

from __future__ import annotations

import os
import sys

def detect(config, env=None) -> str:
    env = os.environ if env is None else env
    kind = (config.data.get("forge") or {}).get("type", "auto")
    if kind != "auto":
        return kind
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    return "local"


def open_forge(config, env=None, say=None):
    from llmops_ci.scm.base import forge_token
    from llmops_ci.scm.local import LocalForge

    env = os.environ if env is None else env
    forge = config.data.get("forge") or {}
    kind = detect(config, env)
    if kind == "local":
        return LocalForge(config)
    token_env, token = forge_token(forge, kind, env)
    if forge.get("type", "auto") == "auto" and not token:
        # Detected, not asked for: without a token the run still works, on the local forge.
        print(f"forge: {kind} CI detected but ${token_env} is empty; checks, comments and deployments go to "
              ".llmops/ (set the token, or forge.type: local to silence this)", file=sys.stderr, flush=True)
        return LocalForge(config)
    return adapter(kind, config)(config, env, say)


def adapter(kind: str, config):
    """The forge class of ``kind``; BadInput naming the extra when its library is not installed."""
    from llmops_ci.errors import BadInput

    try:
        if kind == "github":
            from llmops_ci.scm.github import GitHubForge

            return GitHubForge
        from llmops_ci.scm.gitlab import GitLabForge

        return GitLabForge
    except ImportError as exc:
        raise BadInput(f"{config.display}: forge.type: the {kind} forge needs {exc.name}, which is not installed: "
                       f"pip install 'llmops-ci[{kind}]' (or set forge.type: local)") from None
