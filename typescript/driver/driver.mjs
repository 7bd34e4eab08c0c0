// @ts-check
// The TypeScript driver of `chat-text-conformance clients`: makes every call it reads from
// stdin (JSON lines {case, base_url, token, stream, request}) through the npm package
// `chat-text` (installed from its packed tarball next to this file) and prints one normalized
// outcome per call (JSON lines {case, outcome} or {case, crash}):
//   {value: <the answer as the client returns it>}, for a stream {value: {chunks, usage}};
//   {error: "status", status, code, body}  an APIError with an error status (body: the
//                                          ErrorResponse or null)
//   {error: "validation"}                  ResponseValidationError (incl. an incomplete stream)
//   {error: "transport"}                   APIConnectionError (incl. a stream that broke)
// Anything else thrown is a crash of this client, reported as {case, crash}.
import {
  APIConnectionError,
  APIError,
  ChatText,
  ResponseValidationError,
  Stream,
} from "chat-text";

const TIMEOUT_MS = 10_000;

/** @param {unknown} exc */
function detail(exc) {
  let text = exc instanceof Error ? `${exc.name}: ${exc.message}` : String(exc);
  if (exc instanceof Error && exc.cause instanceof Error) text += ` (${exc.cause.message})`;
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/**
 * @param {{case: string, base_url: string, token: string, stream: boolean,
 *          request: import("chat-text").ChatTextRequest}} call
 * @returns {Promise<Record<string, unknown>>}
 */
async function run(call) {
  const client = new ChatText({
    apiKey: call.token,
    baseURL: call.base_url,
    maxRetries: 0,
    timeout: TIMEOUT_MS,
  });
  try {
    const answer = await client.chatText(call.request);
    if (answer instanceof Stream) {
      /** @type {import("chat-text").ChatTextChunk[]} */
      const chunks = [];
      for await (const chunk of answer) chunks.push(chunk);
      return { value: { chunks, usage: answer.usage } };
    }
    return { value: answer };
  } catch (exc) {
    if (exc instanceof APIConnectionError) return { error: "transport", detail: detail(exc) };
    if (exc instanceof ResponseValidationError) return { error: "validation", detail: detail(exc) };
    if (exc instanceof APIError && exc.status !== undefined && exc.status >= 400) {
      return {
        error: "status",
        status: exc.status,
        code: exc.code ?? null,
        body: exc.error ?? null,
        detail: detail(exc),
      };
    }
    throw exc;
  }
}

let input = "";
process.stdin.setEncoding("utf8");
for await (const part of process.stdin) input += String(part);
for (const line of input.split("\n")) {
  if (line.trim() === "") continue;
  const call = JSON.parse(line);
  /** @type {Record<string, unknown>} */
  let result;
  try {
    result = { case: call.case, outcome: await run(call) };
  } catch (exc) {
    result = { case: call.case, crash: detail(exc) };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
