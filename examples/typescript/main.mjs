// @ts-check
// chat-text from JavaScript (Node 20+): one answer, then the same question streamed.
// Reads CHAT_TEXT_BASE_URL and CHAT_TEXT_API_KEY (and CHAT_TEXT_MODEL, default chat-text-base).
import { APIError, ChatText } from "chat-text";

const model = process.env.CHAT_TEXT_MODEL || "chat-text-base";
/** @type {import("chat-text").Message[]} */
const messages = [{ role: "user", content: "Say hello in three words." }];

/** @param {import("chat-text").Usage | null | undefined} usage */
function show(usage) {
  if (!usage) return "(none)";
  const { prompt_tokens, completion_tokens, total_tokens } = usage;
  return `prompt_tokens=${prompt_tokens} completion_tokens=${completion_tokens} total_tokens=${total_tokens}`;
}

try {
  const client = new ChatText(); // CHAT_TEXT_API_KEY, CHAT_TEXT_BASE_URL
  const answer = await client.chatText({ model, messages, max_tokens: 16 });
  console.log(`answer: ${answer.choices[0].message.content}`);
  console.log(`usage: ${show(answer.usage)}`);

  const stream = await client.chatText({ model, messages, max_tokens: 16, stream: true });
  let text = "";
  for await (const chunk of stream) {
    for (const choice of chunk.choices) text += choice.delta.content ?? "";
  }
  console.log(`stream: ${text}`);
  console.log(`usage: ${show(stream.usage)}`);
} catch (error) {
  if (!(error instanceof APIError)) throw error;
  console.error(`error: ${error.message}`);
  process.exitCode = 1;
}
