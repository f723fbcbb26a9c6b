#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine, then run them all.
# Usage: scripts/test.sh [pytest args...]   (e.g. -m "not slow" for the quick set)
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: PostgreSQL for the MLflow server tests; rsync and Node.js for gitlab-ci-local.
need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v rsync >/dev/null 2>&1 || need_apt+=(rsync)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# gitlab-ci-local runs the GitLab template's pipeline (4.65.x: newer ones need Node 22).
if [ "$(gitlab-ci-local --version 2>/dev/null)" != "4.65.0" ]; then
  npm install -g --no-fund --no-audit --loglevel=error gitlab-ci-local@4.65.0
fi

# GitHub's REST description and Prism serving it, for the GitHub adapter's contract tests
# (tests/test_github_contract.py); in a project-local prefix, not the system's.
NODE_PREFIX=".cache/node"
if ! node -e 'const v=require(process.argv[1]); process.exit(v.version==="5.16.0"?0:1)' \
       "$PWD/$NODE_PREFIX/node_modules/@stoplight/prism-cli/package.json" 2>/dev/null \
   || [ ! -f "$NODE_PREFIX/node_modules/@octokit/openapi/generated/api.github.com.json" ]; then
  mkdir -p "$NODE_PREFIX"
  npm install --prefix "$NODE_PREFIX" --no-fund --no-audit --loglevel=error \
    @stoplight/prism-cli@5.16.0 @octokit/openapi@23.0.2
fi

# The CPU build of torch first: a bare `torch` requirement would pull a CUDA build.
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q -e ".[test]"

export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true DEEPEVAL_TELEMETRY_OPT_OUT=1
set +e
python3 -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$rc"
