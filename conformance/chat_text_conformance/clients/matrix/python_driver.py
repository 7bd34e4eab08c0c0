"""The Python driver: one process that makes every call it is given through the SDK
(``--client sdk``, the reference column) or the generated client alone (``--client generated``),
and prints one normalized outcome per call.

    python -m chat_text_conformance.clients.matrix.python_driver --client sdk < calls.jsonl

Each input line is a call: ``{"case", "base_url", "token", "stream", "request"}``. Each output
line is ``{"case": ..., "outcome": ...}`` with the outcome one of

* ``{"value": <the parsed answer as the client exposes it, re-serialized>}``; for a stream
  ``{"value": {"chunks": [...], "usage": ...}}``;
* ``{"error": "status", "status": N, "code": ..., "body": <ErrorResponse or null>}``;
* ``{"error": "validation"}``: the answer arrived but the client refused it;
* ``{"error": "transport"}``: no complete answer arrived;

(each error with a ``detail`` for people, never compared), or ``{"case": ..., "crash": ...}``
when the client raised something the driver cannot classify.

The generated client reads no event stream (openapi-python-client drops ``text/event-stream``):
``--client generated`` makes stream calls too (an error status answers them as JSON), but a
``200 text/event-stream`` answer is ``{"skip": "..."}``, the generator's documented limit.
"""

from __future__ import annotations

import argparse
import functools
import json
import ssl
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import httpx

__all__ = ["main"]

TIMEOUT = 10.0
GENERATED_STREAM_SKIP = (
    "openapi-python-client generates only the first media type of a response "
    "(application/json): the generated client cannot read text/event-stream"
)


def _detail(exc: BaseException) -> str:
    tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return tail if len(tail) <= 300 else tail[:297] + "..."


def _error_body(error: Any) -> Any:
    return None if error is None else error.to_dict()


def _status(status: int, body: Any) -> dict[str, Any]:
    code = body["error"]["code"] if isinstance(body, dict) else None
    return {"error": "status", "status": status, "code": code, "body": body}


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One context for every client (building one per client costs more than the call)."""
    return ssl.create_default_context()


@functools.cache
def _http() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, verify=_ssl_context())


def _sdk_call(call: dict[str, Any]) -> dict[str, Any]:
    # lazy: each column's process imports only the client it calls (~0.3 s each)
    import chat_text

    client = chat_text.ChatText(
        api_key=call["token"],
        base_url=call["base_url"],
        max_retries=0,
        timeout=TIMEOUT,
        http_client=_http(),
    )
    try:
        with client:
            answer = client.chat_text(**call["request"])  # a Stream when it has stream: true
            if isinstance(answer, chat_text.Stream):
                with answer:
                    chunks = [chunk.to_dict() for chunk in answer]
                    usage = answer.usage.to_dict() if answer.usage is not None else None
                return {"value": {"chunks": chunks, "usage": usage}}
            return {"value": answer.to_dict()}
    except chat_text.APIStatusError as exc:
        out = _status(exc.status_code, _error_body(exc.error))
        return {**out, "detail": _detail(exc)}
    except chat_text.APIConnectionError as exc:  # first: a StreamConnectionError is both
        return {"error": "transport", "detail": _detail(exc)}
    except chat_text.ResponseValidationError as exc:
        return {"error": "validation", "detail": _detail(exc)}


def _generated_call(call: dict[str, Any]) -> dict[str, Any]:
    # lazy: as in _sdk_call
    from chat_text_client import AuthenticatedClient
    from chat_text_client.api.inference import chat_text as operation
    from chat_text_client.models import ChatTextRequest, ChatTextResponse, ErrorResponse

    answers: list[httpx.Response] = []
    client = AuthenticatedClient(
        base_url=call["base_url"],
        token=call["token"],
        timeout=httpx.Timeout(TIMEOUT),
        verify_ssl=_ssl_context(),
        httpx_args={"event_hooks": {"response": [answers.append]}},
    )
    body = ChatTextRequest.from_dict(call["request"])
    with client:
        try:
            response = operation.sync_detailed(client=client, body=body)
        except httpx.TransportError as exc:
            return {"error": "transport", "detail": _detail(exc)}
        except Exception as exc:  # the generated parsers raise bare KeyError/TypeError/...
            if call["stream"] and _is_event_stream(answers):
                return {"skip": GENERATED_STREAM_SKIP}
            return {"error": "validation", "detail": f"raised while parsing: {_detail(exc)}"}
    if call["stream"] and _is_event_stream(answers):
        return {"skip": GENERATED_STREAM_SKIP}  # an empty stream body "parses" as nothing
    parsed = response.parsed
    if isinstance(parsed, ChatTextResponse) and response.status_code == 200:
        return {"value": parsed.to_dict()}
    if isinstance(parsed, ErrorResponse):
        return _status(response.status_code, parsed.to_dict())
    return {
        **_status(response.status_code, None),
        "detail": f"parsed={type(parsed).__name__}",
    }


def _is_event_stream(answers: list[httpx.Response]) -> bool:
    """The answer is a 200 event stream: what the generated client cannot read."""
    return bool(answers) and (
        answers[-1].status_code == 200
        and answers[-1].headers.get("content-type", "").startswith("text/event-stream")
    )


CLIENTS = {"sdk": _sdk_call, "generated": _generated_call}


def run(client: str, lines: Sequence[str], out: Any) -> None:
    call_one = CLIENTS[client]
    for line in lines:
        if not line.strip():
            continue
        call = json.loads(line)
        try:
            result: dict[str, Any] = {"case": call["case"], **_wrap(call_one(call))}
        except Exception as exc:  # unclassified: the harness marks it "crashes"
            result = {"case": call["case"], "crash": _detail(exc)}
        out.write(json.dumps(result) + "\n")
        out.flush()


def _wrap(outcome: dict[str, Any]) -> dict[str, Any]:
    if "skip" in outcome:
        return outcome
    return {"outcome": outcome}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chat_text_conformance.clients.matrix.python_driver",
        description="Make each call read from stdin (JSON lines) through the Python client and "
        "print its normalized outcome (JSON lines).",
    )
    parser.add_argument("--client", choices=sorted(CLIENTS), required=True)
    args = parser.parse_args(argv)
    run(args.client, sys.stdin.read().split("\n"), sys.stdout)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
