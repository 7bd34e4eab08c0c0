"""chat-text from Python: one answer, then the same question streamed.

Reads CHAT_TEXT_BASE_URL and CHAT_TEXT_API_KEY (and CHAT_TEXT_MODEL, default chat-text-base).
"""

import os

from chat_text import APIError, ChatText, Usage

MODEL = os.environ.get("CHAT_TEXT_MODEL", "chat-text-base")
MESSAGES = [{"role": "user", "content": "Say hello in three words."}]


def show(usage: object) -> str:
    if not isinstance(usage, Usage):
        return "(none)"
    return (
        f"prompt_tokens={usage.prompt_tokens} completion_tokens={usage.completion_tokens} "
        f"total_tokens={usage.total_tokens}"
    )


def main() -> None:
    with ChatText() as client:  # CHAT_TEXT_API_KEY, CHAT_TEXT_BASE_URL
        answer = client.chat_text(model=MODEL, messages=MESSAGES, max_tokens=16)
        print(f"answer: {answer.choices[0].message.content}")
        print(f"usage: {show(answer.usage)}")

        with client.chat_text(model=MODEL, messages=MESSAGES, max_tokens=16, stream=True) as stream:
            text = "".join(
                choice.delta.content or "" for chunk in stream for choice in chunk.choices
            )
        print(f"stream: {text}")
        print(f"usage: {show(stream.usage)}")


if __name__ == "__main__":
    try:
        main()
    except APIError as error:
        raise SystemExit(f"error: {error}") from None
