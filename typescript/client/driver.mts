// The TypeScript driver of `chat-text-conformance clients`: makes every call it reads from
// stdin (JSON lines {case, base_url, token, stream, request}) through openapi-fetch typed by
// generated/typescript plus the helper in chat_text.mts, and prints one normalized outcome per
// call (JSON lines {case, outcome} or {case, crash}):
//   {value: <the answer as the client returns it>}, for a stream {value: {chunks, usage}};
//   {error: "status", status, code, body}  ChatTextStatusError (body: the ErrorResponse or null);
//   {error: "validation"}                  ChatTextResponseError (incl. an incomplete stream);
//   {error: "transport"}                   fetch's own network errors (undici TypeError);
// anything else thrown is a crash of this client, reported as {case, crash}.
import {
  ChatTextResponseError,
  ChatTextStatusError,
  chatText,
  createChatTextClient,
  streamChatText,
  type ChatTextChunk,
  type ChatTextRequest,
} from "./chat_text.mjs";

interface Call {
  case: string;
  base_url: string;
  token: string;
  stream: boolean;
  request: ChatTextRequest;
}

type Outcome = Record<string, unknown>;

const TIMEOUT_MS = 10_000;
// what undici (Node's fetch) throws when the connection fails or breaks mid-body
const NETWORK_ERRORS = new Set(["fetch failed", "terminated"]);

function detail(exc: unknown): string {
  let text = exc instanceof Error ? `${exc.name}: ${exc.message}` : String(exc);
  if (exc instanceof Error && exc.cause instanceof Error) text += ` (${exc.cause.message})`;
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

function isTransport(exc: unknown): boolean {
  if (exc instanceof TypeError && NETWORK_ERRORS.has(exc.message)) return true;
  return exc instanceof DOMException && (exc.name === "TimeoutError" || exc.name === "AbortError");
}

const timedFetch: typeof fetch = (input, init) =>
  fetch(input, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });

async function run(call: Call): Promise<Outcome> {
  const client = createChatTextClient({
    baseUrl: call.base_url,
    token: call.token,
    fetch: timedFetch,
  });
  try {
    if (call.request.stream === true) {
      const stream = await streamChatText(client, call.request);
      const chunks: ChatTextChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);
      return { value: { chunks, usage: stream.usage } };
    }
    return { value: await chatText(client, call.request) };
  } catch (exc) {
    if (exc instanceof ChatTextStatusError) {
      return {
        error: "status",
        status: exc.status,
        code: exc.code ?? null,
        body: exc.body ?? null,
        detail: detail(exc),
      };
    }
    if (exc instanceof ChatTextResponseError) return { error: "validation", detail: detail(exc) };
    if (isTransport(exc)) return { error: "transport", detail: detail(exc) };
    throw exc;
  }
}

let input = "";
process.stdin.setEncoding("utf8");
for await (const part of process.stdin) input += String(part);
for (const line of input.split("\n")) {
  if (line.trim() === "") continue;
  const call = JSON.parse(line) as Call;
  let result: Outcome;
  try {
    result = { case: call.case, outcome: await run(call) };
  } catch (exc) {
    result = { case: call.case, crash: detail(exc) };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
