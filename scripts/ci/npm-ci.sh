#!/usr/bin/env bash
# `npm ci` of the Node tools pinned in package.json/package-lock.json, shared by everything that
# uses them: the tox envs (which run in parallel in CI) and the tests that need node_modules/
# (tests/conftest.py, fixture `node_tools`).
#
# * One install at a time: an flock on .npm-ci.lock (where util-linux's flock is installed);
#   whoever comes second waits for the first and then finds node_modules/ installed.
# * Only when needed: node_modules/ keeps a stamp of the package.json, package-lock.json and Node
#   it was installed from; when they match, node_modules/ is kept.
# * --ignore-scripts: no dependency's install script runs (the only one in the tree is a usage
#   report that would call a host that is not a package registry).
set -euo pipefail
cd "$(dirname "$0")/../.."

if command -v flock >/dev/null 2>&1; then  # util-linux; without it, one install at a time is up to you
    exec 9>.npm-ci.lock
    flock 9
fi
stamp="$(cat package.json package-lock.json | cksum) $(node --version)"
if [ "$stamp" != "$(cat node_modules/.npm-ci-stamp 2>/dev/null)" ]; then
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
    echo "$stamp" >node_modules/.npm-ci-stamp
else
    echo "npm ci: node_modules/ matches package-lock.json, kept"
fi
