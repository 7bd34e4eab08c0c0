#!/usr/bin/env bash
# The one step of the chat-text GitHub Action (action.yml): install the kit from the action's own
# checkout, then run the conformance suite against a server and write the report folder.
# The tests (tests/test_ci_action.py) run this same script against the reference server.
#
# Inputs, as action.yml sets them (environment variables; never the command line, so the token
# is in no process listing and no log):
#   CHAT_TEXT_API_KEY               the bearer token (required; chat-text-conformance reads it)
#   CHAT_TEXT_ACTION_BASE_URL       the server's base URL (required)
#   CHAT_TEXT_ACTION_MODEL          the model every request is pinned to (required)
#   CHAT_TEXT_ACTION_CONTEXT_LENGTH the model's context window (optional)
#   CHAT_TEXT_ACTION_LEVEL          schema | semantic | strict (optional; the suite's default)
#   CHAT_TEXT_ACTION_WORKERS        requests in flight (optional)
#   CHAT_TEXT_ACTION_REPORT_DIR     the report folder (default chat-text-report)
#   CHAT_TEXT_ACTION_ARGS           more options, split like a shell would (optional)
#   CHAT_TEXT_ACTION_PATH           the kit to install (the action's checkout)
#   CHAT_TEXT_ACTION_SKIP_INSTALL   1: the kit is installed already (the tests)
# Outputs: exit-code, report-dir, and the four verdicts counted apart (checks-passed,
# checks-failed, checks-not-exercised, checks-inconclusive) and rate-limited (busy answers).
# Exit status: the suite's (0 passed, 1 a rule failed or nothing was judged, 2 a set-up error),
# or 2 when an input is missing or the kit cannot be installed.
set -euo pipefail

fail() {
    echo "chat-text action: error: $*" >&2
    exit 2
}

# Mask the token before anything can print it (the runner hides it in every later log line).
if [[ -n "${CHAT_TEXT_API_KEY:-}" && "${GITHUB_ACTIONS:-}" == "true" ]]; then
    echo "::add-mask::${CHAT_TEXT_API_KEY}"
fi

[[ -n "${CHAT_TEXT_ACTION_BASE_URL:-}" ]] || fail "the input base-url is empty"
[[ -n "${CHAT_TEXT_API_KEY:-}" ]] || fail "the input token is empty (pass it from a secret: token: \${{ secrets.NAME }})"
[[ -n "${CHAT_TEXT_ACTION_MODEL:-}" ]] || fail "the input model is empty"
report_dir="${CHAT_TEXT_ACTION_REPORT_DIR:-chat-text-report}"
python="${PYTHON:-python3}"

if [[ "${CHAT_TEXT_ACTION_SKIP_INSTALL:-}" != "1" ]]; then
    kit="${CHAT_TEXT_ACTION_PATH:-}"
    [[ -n "$kit" && -f "$kit/pyproject.toml" ]] ||
        fail "CHAT_TEXT_ACTION_PATH must be the kit's folder (the action sets it to github.action_path)"
    echo "chat-text action: installing the kit from $kit"
    "$python" -m pip install --quiet --disable-pip-version-check "${kit}[conformance]" ||
        fail "could not install the kit from $kit"
fi
command -v chat-text-conformance >/dev/null || fail "chat-text-conformance is not installed"

args=(--base-url "$CHAT_TEXT_ACTION_BASE_URL" --model "$CHAT_TEXT_ACTION_MODEL" --report-dir "$report_dir")
[[ -z "${CHAT_TEXT_ACTION_CONTEXT_LENGTH:-}" ]] || args+=(--context-length "$CHAT_TEXT_ACTION_CONTEXT_LENGTH")
[[ -z "${CHAT_TEXT_ACTION_LEVEL:-}" ]] || args+=(--level "$CHAT_TEXT_ACTION_LEVEL")
[[ -z "${CHAT_TEXT_ACTION_WORKERS:-}" ]] || args+=(--workers "$CHAT_TEXT_ACTION_WORKERS")
summary="$(mktemp)"
words="$(mktemp)"
trap 'rm -f "$summary" "$words"' EXIT
if [[ -n "${CHAT_TEXT_ACTION_ARGS:-}" ]]; then
    # Split with shlex (quotes work as in a shell; nothing is expanded or executed).
    "$python" -c 'import os, shlex, sys
for word in shlex.split(os.environ["CHAT_TEXT_ACTION_ARGS"]):
    sys.stdout.write(word + "\0")' >"$words" || fail "the input args cannot be split: ${CHAT_TEXT_ACTION_ARGS}"
    while IFS= read -r -d '' word; do args+=("$word"); done <"$words"
fi
case " ${args[*]} " in
*" --token "* | *" --token="*) fail "pass the token with the input token, not in args" ;;
esac

set +e
chat-text-conformance "${args[@]}" | tee "$summary"
status=${PIPESTATUS[0]}
set -e

# The four verdicts, counted apart, from report.json (none when the run wrote no report).
counts="$("$python" -c 'import json, sys
try:
    data = json.load(open(sys.argv[1], encoding="utf-8"))
except (OSError, ValueError):
    sys.exit(0)
for key in ("passed", "failed", "not_exercised", "inconclusive"):
    print("checks-" + key.replace("_", "-") + "=" + str(data.get("checks_" + key, 0)))
print("rate-limited=" + str((data.get("pacing") or {}).get("rate_limited", 0)))' "$report_dir/report.json" || true)"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
    {
        echo "exit-code=$status"
        echo "report-dir=$report_dir"
        [[ -z "$counts" ]] || echo "$counts"
    } >>"$GITHUB_OUTPUT"
fi
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
    {
        echo "### chat-text conformance: exit $status"
        if [[ -n "$counts" ]]; then
            echo
            echo "$counts" | sed 's/^checks-//; s/=/: /; s/^/- /'
        fi
        echo
        echo '```'
        cat "$summary"
        echo '```'
    } >>"$GITHUB_STEP_SUMMARY"
fi
exit "$status"
