"""The TypeScript client (openapi-fetch typed by generated/typescript/chat-text.d.ts, plus the
handwritten streaming and error helper typescript/client/chat_text.mts) compiles with
``tsc --strict`` and, on Node, calls the reference server: a JSON answer, a stream read to
``[DONE]`` with its final usage, a 401 and a 400 as typed errors carrying the spec's error body.

Needs ``npm ci`` (node_modules with the pinned TypeScript and openapi-fetch) and node; skipped
with that reason when they are absent (``tox -e client-typescript`` installs them)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chat_text_server.testing import TEST_TOKEN, running_server

ROOT = Path(__file__).resolve().parent.parent
TSC = ROOT / "node_modules" / ".bin" / "tsc"
TSCONFIG = ROOT / "typescript" / "client" / "tsconfig.json"
OUT = ROOT / "build" / "typescript-client" / "typescript" / "client"
MODEL = "chat-text-base"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None
    or not TSC.exists()
    or not (ROOT / "node_modules" / "openapi-fetch").is_dir(),
    reason="node and the pinned npm packages are needed: run `npm ci` (tox -e client-typescript)",
)


@pytest.fixture(scope="module")
def compiled() -> Path:
    proc = subprocess.run(
        [str(TSC), "--strict", "-p", str(TSCONFIG)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return OUT


@pytest.fixture(scope="module")
def smoke(compiled: Path) -> dict[str, Any]:
    with running_server() as url:
        proc = subprocess.run(
            ["node", str(compiled / "smoke.mjs"), url, TEST_TOKEN, MODEL],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_json_answer(smoke: dict[str, Any]) -> None:
    answer = smoke["answer"]
    assert answer["model"] == MODEL
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["choices"][0]["finish_reason"] in {"stop", "length"}
    usage = answer["usage"]
    assert usage is None or usage["total_tokens"] == (
        usage["prompt_tokens"] + usage["completion_tokens"]
    )


def test_stream_is_read_to_done_with_its_final_usage(smoke: dict[str, Any]) -> None:
    stream = smoke["stream"]
    assert stream["done"] is True
    assert stream["chunks"] >= 1
    assert stream["text"]
    usage = stream["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_401_is_a_typed_error_with_the_spec_body(smoke: dict[str, Any]) -> None:
    error = smoke["unauthorized"]
    assert error["status"] == 401
    assert error["code"] == "unauthorized"
    assert set(error["body"]["error"]) >= {"code", "message"}


def test_400_is_a_typed_error_naming_the_field(smoke: dict[str, Any]) -> None:
    error = smoke["badRequest"]
    assert error["status"] == 400
    assert error["code"] == "invalid_request"
    assert error["body"]["error"]["field"] == "temperature"
