"""``chat-text-conformance replay REPORT``: send a report's failing cases again and judge them anew.

``REPORT`` is a ``report.json`` written by ``--report-dir`` / ``--report-json``, or the report
folder. For each failure the report kept:

* a per-response rule (kind ``response``, or a ``schema`` rule the suite evaluates itself):
  its request is sent again, the stream read to its end, and that rule alone judges the new
  response;
* a schemathesis built-in without such a function: the request is sent again and the status
  is judged (``positive_data_acceptance`` 2xx or a documented refusal, ``negative_data_rejection``
  4xx, ``not_a_server_error`` < 500, ``status_code_conformance`` documented, auth rules 401,
  Content-Type and required headers as documented for the status, ...); anything else is
  reported as "re-sent, not re-judged" with the status;
* a property: the property alone is run again with the report's model, context length, level,
  seed and examples.

Exit codes: 0 no replayed case fails any more, 1 one still fails, 2 usage error (no report, no
token, unreachable server).
"""

from __future__ import annotations

import argparse
import functools
import json
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx

from . import catalogue as rule_catalogue
from . import checks
from ._argtypes import run_command
from .engine.pacing import Pacer, is_busy
from .engine.target import TOKEN_ENV, Level, Target, token_from_env
from .reporting.reproducer import curl_command
from .reporting.results import TOKEN_PLACEHOLDER, RequestRecord, redact_token
from .reporting.summary import REPORT_FILE, citation

__all__ = [
    "ReplayError",
    "Replayed",
    "build_parser",
    "load_report",
    "main",
    "replay",
]

PROG = "chat-text-conformance replay"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_BYTES = 16 * 1024 * 1024
"""The replay reads at most this many bytes of one response (beyond: inconclusive)."""

# verdicts of a replayed case
PASSES = "passes"
FAILS = "FAIL"
NOT_JUDGED = "not re-judged"
NOT_REPLAYABLE = "not replayable"
INCONCLUSIVE = "inconclusive"
NOT_EXERCISED = "not exercised"
VERDICTS = (PASSES, FAILS, NOT_JUDGED, NOT_REPLAYABLE, INCONCLUSIVE, NOT_EXERCISED)


class ReplayError(Exception):
    """A usage problem (missing or unreadable report, no token, unreachable server): exit 2."""


@dataclass
class Replayed:
    """One replayed case: what it was and what it is now."""

    rule: str
    request: str
    """What was sent again (method, path, a few facts about the body), or the property re-run."""
    then: str
    """The verdict in the report."""
    verdict: str
    """:data:`PASSES`, :data:`FAILS`, :data:`NOT_JUDGED`, :data:`NOT_REPLAYABLE`,
    :data:`INCONCLUSIVE` or :data:`NOT_EXERCISED`."""
    detail: str = ""
    expected: str = ""
    actual: str = ""
    reproducer: str = ""

    @property
    def now(self) -> str:
        if self.verdict == PASSES:
            return f"passes{f' ({self.detail})' if self.detail else ''}"
        return f"{self.verdict}: {self.detail}" if self.detail else self.verdict


@dataclass
class _Response:
    status: int
    headers: httpx.Headers
    body: bytes
    cut_short: str | None = None


@dataclass
class _Settings:
    base_url: str
    token: str
    model: str
    context_length: int | None
    level: Level
    seed: int | None
    max_examples: int
    workers: int
    request_timeout: float
    report_dir: Path | None
    client: httpx.Client = field(repr=False)
    pacer: Pacer = field(default_factory=Pacer, repr=False)
    """Busy answers (429, 503) waited out and the request sent again, as in the run."""

    @functools.cached_property
    def context(self) -> checks.RunContext:
        """What the rules know, as in the run: the window, the token, the model."""
        return checks.RunContext(
            context_length=self.context_length, token=self.token, model=self.model or None
        )


# ---------------------------------------------------------------------------------------------
# Reading the report


def load_report(path: str | Path) -> tuple[dict[str, Any], Path | None]:
    """The JSON report at ``path`` (a file, or a folder holding ``report.json``) and the folder
    its body files live in."""
    where = Path(path)
    if where.is_dir():
        folder: Path | None = where
        where = where / REPORT_FILE
        if not where.is_file():
            raise ReplayError(f"{path}: no {REPORT_FILE} in this folder")
    elif where.is_file():
        folder = where.parent if (where.parent / "bodies").is_dir() else None
    else:
        raise ReplayError(f"{path}: no such report file or folder")
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReplayError(f"{where}: not a readable JSON report ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ReplayError(f"{where}: not a chat-text-conformance report (no results)")
    return data, folder


def _then(failure: dict[str, Any], failed: int) -> str:
    message = str(failure.get("message") or "")
    times = f" ({failed}x)" if failed > 1 else ""
    return f"FAIL{times}: {message}" if message else f"FAIL{times}"


def _describe(record: RequestRecord) -> str:
    facts = [f"{record.method} {record.path}"]
    names = {name.lower(): value for name, value in record.headers}
    auth = names.get("authorization")
    if auth is None:
        facts.append("no auth")
    elif TOKEN_PLACEHOLDER not in auth:
        facts.append("other auth")
    if record.body is not None:
        try:
            body = json.loads(record.body)
        except (ValueError, RecursionError):
            body = None
        if isinstance(body, dict) and body.get("stream") is True:
            facts.append("stream")
        facts.append(f"{len(record.body)} B")
    return ", ".join(facts)


# ---------------------------------------------------------------------------------------------
# Sending


def _bearer(record: RequestRecord, token: str) -> str | None:
    for name, value in record.headers_for(token).items():
        if name.lower() == "authorization" and value.lower().startswith("bearer "):
            return value[len("bearer ") :].strip()
    return None


def _send(settings: _Settings, record: RequestRecord) -> _Response:
    """Send ``record`` again and read the answer to its end (a stream: to its last event)."""
    url = settings.base_url.rstrip("/") + record.path
    limit = time.monotonic() + settings.request_timeout
    chunks: list[bytes] = []
    size = 0
    cut: str | None = None
    with settings.client.stream(
        record.method, url, content=record.body, headers=record.headers_for(settings.token)
    ) as response:
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BYTES:
                cut = f"the replay's cap of {MAX_BYTES} bytes per response"
            elif time.monotonic() > limit:
                cut = f"the replay's cap of {settings.request_timeout:g}s per response"
            if cut is not None:
                break
        return _Response(response.status_code, response.headers, b"".join(chunks), cut)


def _exchange(settings: _Settings, record: RequestRecord, response: _Response) -> checks.Exchange:
    """The replayed exchange, as every front end judges one (the request as it was sent)."""
    request: Any = None
    if record.body is not None:
        try:
            request = json.loads(record.body)
        except (ValueError, RecursionError):
            request = None
    return checks.Exchange(
        request=request,
        status=response.status,
        content_type=checks.media_type(response.headers.get("content-type")),
        body=response.body,
        context=settings.context,
        headers=tuple((k.lower(), v) for k, v in response.headers.items()),
        token=_bearer(record, settings.token),
        cut_short=response.cut_short,
        method=record.method,
        path=record.path.split("?", 1)[0],
        request_headers=tuple(
            (name.lower(), value) for name, value in record.headers_for(settings.token).items()
        ),
        request_body=record.body if record.body is not None else b"",
    )


def _preview(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


# ---------------------------------------------------------------------------------------------
# Judging


def _judge_with_rule(rule: checks.Rule, exchange: checks.Exchange, case: Replayed) -> Replayed:
    """The rule's verdict on the new exchange, by ``checks.judge`` as in the run (at the rule's
    own level: it failed in a run that ran it)."""
    outcome = checks.judge(exchange, rule.level, rules=[rule]).get(rule.id)
    if isinstance(outcome, checks.CheckFailed):
        case.verdict, case.detail = FAILS, outcome.message
        case.expected, case.actual = outcome.expected, outcome.actual
    elif isinstance(outcome, checks.NotApplicable):
        case.verdict, case.detail = NOT_EXERCISED, outcome.reason
    elif isinstance(outcome, checks.Inconclusive):
        case.verdict, case.detail = INCONCLUSIVE, outcome.reason
    elif outcome is True:
        case.verdict, case.detail = PASSES, f"HTTP {exchange.status}"
    else:
        case.verdict, case.detail = NOT_EXERCISED, "does not apply to the new response"
    return case


def _replay_request(
    settings: _Settings, rule_id: str, record: RequestRecord, case: Replayed
) -> Replayed:
    case.reproducer = curl_command(settings.base_url, record, report_dir=settings.report_dir)
    try:
        response = settings.pacer.call(
            lambda: _send(settings, record), lambda r: r.status, lambda r: r.headers
        )
    except httpx.TimeoutException:
        case.verdict, case.detail = FAILS, f"no response within {settings.request_timeout:g}s"
        case.expected, case.actual = "an HTTP response", "timeout"
        return case
    except httpx.HTTPError as exc:
        case.verdict, case.detail = FAILS, f"no complete HTTP response ({type(exc).__name__})"
        case.expected, case.actual = "an HTTP response", str(exc) or type(exc).__name__
        return case
    if is_busy(response.status):  # never evidence, as in the run
        case.verdict, case.detail = INCONCLUSIVE, checks.busy_reason(response.status)
        return case
    try:
        rule = rule_catalogue.get(rule_id)
    except KeyError:
        rule = None
    if rule is None or rule.check is None or rule.kind not in ("schema", "response"):
        case.verdict, case.detail = NOT_JUDGED, f"re-sent: HTTP {response.status}"
        return case
    return _judge_with_rule(rule, _exchange(settings, record, response), case)


def _replay_property(settings: _Settings, name: str, then: str) -> Replayed:
    case = Replayed(
        rule=name,
        request=(f"property re-run (max {settings.max_examples} example(s), seed {settings.seed})"),
        then=then,
        verdict=NOT_EXERCISED,
    )
    if not settings.model:
        case.verdict, case.detail = NOT_REPLAYABLE, "the report names no model"
        return case
    # lazy: hypothesis and the properties (~0.5 s of imports) only to replay a property
    from .properties import run_properties

    target = Target(
        base_url=settings.base_url,
        token=settings.token,
        model=settings.model,
        context_length=settings.context_length,
        request_timeout=settings.request_timeout,
    )
    level = settings.level if settings.level is not Level.SCHEMA else Level.SEMANTIC
    outcome = run_properties(
        target,
        level,
        max_examples=settings.max_examples,
        seed=settings.seed,
        only=[name],
        workers=settings.workers,
        pacer=settings.pacer,
    )
    if not outcome.properties:
        case.verdict = NOT_EXERCISED
        case.detail = f"the property does not run at the {level.value} level"
        return case
    result = outcome.properties[0]
    broken = sorted(r.name for r in outcome.responses.values() if not r.ok)
    if result.failures or result.failed:
        first = result.failures[0] if result.failures else None
        case.verdict = FAILS
        case.detail = first.message if first else f"{result.failed} failure(s)"
        if first is not None:
            case.expected, case.actual = first.expected, first.actual
            if first.request is not None:
                case.reproducer = curl_command(
                    settings.base_url, first.request, report_dir=settings.report_dir
                )
        return case
    if broken:
        case.verdict = FAILS
        case.detail = f"its replies broke {', '.join(broken)}"
        first_broken = outcome.responses[broken[0]].failures
        if first_broken:
            failure = first_broken[0]
            case.expected, case.actual = failure.expected, failure.actual
            if failure.request is not None:
                case.reproducer = curl_command(
                    settings.base_url, failure.request, report_dir=settings.report_dir
                )
        return case
    if result.verdict == "passed":
        case.verdict, case.detail = PASSES, f"{result.passed} example(s)"
    elif result.verdict == "inconclusive":
        case.verdict, case.detail = INCONCLUSIVE, result.why_not
    else:
        case.verdict, case.detail = NOT_EXERCISED, result.why_not or "no example applied"
    return case


def _kind(rule_id: str) -> str:
    try:
        return rule_catalogue.get(rule_id).kind
    except KeyError:
        return "unknown"


def replay(
    data: dict[str, Any],
    settings: _Settings,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[Replayed]:
    """Replay every failing case of the report ``data``."""
    cases: list[Replayed] = []
    for result in data["results"]:
        if not isinstance(result, dict):
            continue
        failures = [f for f in result.get("failures") or [] if isinstance(f, dict)]
        if not failures:
            continue
        name = str(result.get("name", ""))
        failed = int(result.get("failed") or len(failures))
        kind = _kind(name)
        if progress is not None:
            progress(f"replaying {name} ({len(failures)} case(s))")
        if kind == "property":
            cases.append(_replay_property(settings, name, _then(failures[0], failed)))
            continue
        for failure in failures:
            then = _then(failure, 1)
            if kind == "client":
                cases.append(
                    Replayed(
                        name,
                        "(generated body)",
                        then,
                        NOT_REPLAYABLE,
                        "a client rule: run chat-text-conformance --client",
                    )
                )
                continue
            raw = failure.get("request")
            if not isinstance(raw, dict):
                cases.append(
                    Replayed(name, "(none)", then, NOT_REPLAYABLE, "the report kept no request")
                )
                continue
            record = RequestRecord.from_json(raw)
            case = Replayed(name, _describe(record), then, NOT_JUDGED)
            cases.append(_replay_request(settings, name, record, case))
    return cases


# ---------------------------------------------------------------------------------------------
# Output


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(cases: Sequence[Replayed]) -> str:
    """rule | request | then | now, one line per replayed case."""
    rows = [("rule", "request", "then", "now")]
    rows += [(c.rule, c.request, _cut(c.then, 60), _cut(c.now, 70)) for c in cases]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for index, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
        if index == 0:
            lines.append("-" * (sum(widths) + 6 + 30))
    return "\n".join(lines)


def summary(cases: Sequence[Replayed]) -> str:
    lines = [table(cases)]
    shown: set[str] = set()
    for case in (c for c in cases if c.verdict == FAILS):
        if case.rule in shown:  # the table lists every case; details once per rule
            continue
        shown.add(case.rule)
        lines += ["", f"STILL FAILS {case.rule}: {case.detail}"]
        lines += [f"  {line}" for line in citation(case.rule)]
        lines.append(f"  expected: {case.expected or '(not recorded by the rule)'}")
        lines.append(f"  actual: {case.actual or '(not recorded by the rule)'}")
        if case.reproducer:
            lines.append(f"  reproduce:\n    {case.reproducer}")
    count = {v: sum(1 for c in cases if c.verdict == v) for v in VERDICTS}
    unsent = count[NOT_JUDGED] + count[NOT_REPLAYABLE]
    lines += [
        "",
        f"{outcome(cases)}: {len(cases)} case(s) replayed: {count[PASSES]} now pass, "
        f"{count[FAILS]} still fail, {count[NOT_EXERCISED]} not exercised, "
        f"{count[INCONCLUSIVE]} inconclusive, {unsent} not re-judged or not replayable",
    ]
    return "\n".join(lines)


def outcome(cases: Sequence[Replayed]) -> str:
    """``STILL FAILING`` (a case fails), ``FIXED`` (none fails, at least one passes) or ``NOT
    JUDGED`` (none could be judged again: nothing shows the fix)."""
    if any(c.verdict == FAILS for c in cases):
        return "STILL FAILING"
    return "FIXED" if any(c.verdict == PASSES for c in cases) else "NOT JUDGED"


# ---------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Send the failing cases of a conformance report again and judge them anew: "
            "per-response rules on the new response, schemathesis built-ins by status, "
            "properties re-run with the report's seed."
        ),
        epilog=(
            "exit codes: 0 no replayed case fails any more and at least one passes, 1 a case "
            "still fails or none could be judged again (all inconclusive, not exercised or not "
            "replayable), 2 usage error (missing report, no token, unreachable server)"
        ),
    )
    parser.add_argument("report", metavar="REPORT", help="a report.json or its report folder")
    parser.add_argument("--base-url", help="send to this server instead of the report's")
    parser.add_argument("--token", help=f"bearer token (default: ${TOKEN_ENV}); never printed")
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for any single response (default 10)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return parser


def _reachable(base_url: str, timeout: float) -> None:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ReplayError(f"the base URL must start with http:// or https://, got {base_url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=min(timeout, 5.0)):
            pass
    except OSError as exc:
        raise ReplayError(f"cannot reach {base_url}: {exc.strerror or exc}") from None


def _workers(value: Any) -> int:
    """The report's ``workers`` as a number of requests in flight (``"auto"``: one at a time,
    which is what a replay of a few cases needs)."""
    return value if isinstance(value, int) and value >= 1 else 1


def _settings(args: argparse.Namespace, data: dict[str, Any], folder: Path | None) -> _Settings:
    token = args.token or token_from_env()
    if not token:
        raise ReplayError(f"replay needs the token: pass --token or set ${TOKEN_ENV}")
    base_url = str(args.base_url or data.get("base_url") or "")
    if not base_url:
        raise ReplayError("the report names no server (base_url): pass --base-url")
    try:
        level = Level(str(data.get("level") or Level.SEMANTIC.value))
    except ValueError:
        level = Level.SEMANTIC
    context_length = data.get("context_length")
    seed = data.get("seed")
    return _Settings(
        base_url=base_url.rstrip("/"),
        token=token,
        model=str(data.get("model") or ""),
        context_length=context_length if isinstance(context_length, int) else None,
        level=level,
        seed=seed if isinstance(seed, int) else None,
        max_examples=max(1, int(data.get("max_examples") or 1)),
        workers=_workers(data.get("workers")),
        request_timeout=args.request_timeout,
        report_dir=folder,
        client=httpx.Client(
            timeout=httpx.Timeout(args.request_timeout), trust_env=False, follow_redirects=False
        ),
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    data, folder = load_report(args.report)
    if data.get("level") == "client":
        raise ReplayError("a report of the client checks has nothing to send to a server")
    if not any(isinstance(r, dict) and r.get("failures") for r in data["results"]):
        print("the report has no failing case: nothing to replay", file=out)
        return EXIT_OK
    settings = _settings(args, data, folder)
    token = settings.token

    def say(line: str) -> None:
        if not args.quiet:
            print(f"[replay] {redact_token(line, token)}", file=err, flush=True)

    try:
        try:
            _reachable(settings.base_url, settings.request_timeout)
        except ReplayError as exc:
            if args.base_url:
                raise
            raise ReplayError(f"{exc} (the report's server; pass --base-url)") from None
        say(f"replaying against {settings.base_url}")
        cases = replay(data, settings, progress=say)
    finally:
        settings.client.close()
    print(redact_token(summary(cases), token), file=out, flush=True)
    return EXIT_OK if outcome(cases) == "FIXED" else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.request_timeout <= 0:
        parser.error("--request-timeout must be greater than 0")
    return run_command(
        PROG,
        parser,
        lambda: run(args, sys.stdout, sys.stderr),
        usage_errors=(ReplayError,),
        redact=lambda text: redact_token(text, args.token or token_from_env()),
    )
