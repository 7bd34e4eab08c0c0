// Calls a running chat-text server through the generated-types client (used by
// tests/test_typescript_client.py): a JSON answer, a stream read to [DONE], a 401 and a 400
// as typed errors. Prints one JSON line with what it saw.
import {
  ChatTextStatusError,
  chatText,
  createChatTextClient,
  streamChatText,
  type ChatTextRequest,
} from "./chat_text.mjs";

const [baseUrl, token, model] = process.argv.slice(2);
if (!baseUrl || !token || !model) throw new Error("usage: smoke.mjs BASE_URL TOKEN MODEL");

const request: ChatTextRequest = {
  model,
  messages: [{ role: "user", content: "Say hello in three words." }],
  max_tokens: 16,
};

async function statusOf(call: () => Promise<unknown>): Promise<object> {
  try {
    await call();
  } catch (exc) {
    if (exc instanceof ChatTextStatusError) {
      return { status: exc.status, code: exc.code, body: exc.body };
    }
    throw exc;
  }
  throw new Error("expected an error status");
}

const client = createChatTextClient({ baseUrl, token });
const answer = await chatText(client, request);
const stream = await streamChatText(client, request);
const chunks = [];
for await (const chunk of stream) chunks.push(chunk);
const text = chunks.map((c) => c.choices.map((ch) => ch.delta.content ?? "").join("")).join("");
const wrongToken = createChatTextClient({ baseUrl, token: `${token}-wrong` });
const unauthorized = await statusOf(() => chatText(wrongToken, request));
const badRequest = await statusOf(() => chatText(client, { ...request, temperature: 5 }));
console.log(
  JSON.stringify({
    answer,
    stream: { chunks: chunks.length, done: stream.done, usage: stream.usage, text },
    unauthorized,
    badRequest,
  }),
);
