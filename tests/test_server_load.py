"""64 concurrent clients against one real server: every answer correct, none lost."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from chat_text_server import engine
from chat_text_server.testing import TEST_TOKEN, running_server

CLIENTS = 64
REQUESTS_EACH = 5
PATH = "/inference/chat_text"


def expected(messages: list[dict[str, str]], model: str, max_tokens: int) -> tuple[str, str]:
    pieces, finish = engine.generate(messages, max_tokens, 0, model=model)
    return "".join(pieces), finish


async def one_client(base_url: str, client_no: int) -> list[tuple[int, int, str]]:
    """Make REQUESTS_EACH requests on one connection; return (client, request, id) per answer."""
    answered: list[tuple[int, int, str]] = []
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as http:
        for request_no in range(REQUESTS_EACH):
            model = "chat-text-mini" if request_no % 2 else "chat-text-base"
            messages = [{"role": "user", "content": f"client {client_no} request {request_no}"}]
            max_tokens = 3 + (client_no + request_no) % 20
            body: dict[str, Any] = {"model": model, "messages": messages, "temperature": 0,
                                    "max_tokens": max_tokens}  # fmt: skip
            content, finish = expected(messages, model, max_tokens)
            if request_no == REQUESTS_EACH - 1:
                async with http.stream("POST", PATH, json={**body, "stream": True}) as response:
                    assert response.status_code == 200
                    lines = [line async for line in response.aiter_lines() if line]
                assert lines[-1] == "data: [DONE]"
                chunks = [httpx.Response(200, content=line[6:]).json() for line in lines[:-1]]
                text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
                assert text == content
                assert chunks[-1]["choices"][0]["finish_reason"] == finish
                assert chunks[-1]["model"] == model
                answered.append((client_no, request_no, chunks[0]["id"]))
                continue
            response = await http.post(PATH, json=body)
            assert response.status_code == 200, response.text
            doc = response.json()
            assert doc["model"] == model
            assert doc["choices"][0]["message"]["content"] == content
            assert doc["choices"][0]["finish_reason"] == finish
            usage = doc["usage"]
            assert usage["prompt_tokens"] == engine.count_prompt_tokens(messages)
            assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
            answered.append((client_no, request_no, doc["id"]))
    return answered


async def run_all(base_url: str) -> list[tuple[int, int, str]]:
    results = await asyncio.gather(*(one_client(base_url, n) for n in range(CLIENTS)))
    return [item for result in results for item in result]


def test_64_concurrent_clients_all_get_their_own_correct_answers() -> None:
    with running_server() as base_url:
        answered = asyncio.run(asyncio.wait_for(run_all(base_url), timeout=120))
    assert len(answered) == CLIENTS * REQUESTS_EACH
    assert {(c, r) for c, r, _ in answered} == {
        (c, r) for c in range(CLIENTS) for r in range(REQUESTS_EACH)
    }
    assert len({i for _, _, i in answered}) == len(answered)
