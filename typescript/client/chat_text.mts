// chat-text for TypeScript: openapi-fetch (typed by generated/typescript/chat-text.d.ts, the
// openapi-typescript output of openapi.yaml) plus what the generator cannot do:
//  * streaming: openapi-fetch hands back the raw body (parseAs: "stream"); streamChatText
//    frames the server-sent events and yields typed ChatTextChunks until `data: [DONE]`,
//    exposing the final usage;
//  * typed errors: an error status is thrown as ChatTextStatusError carrying the spec's
//    ErrorResponse body; a body that is not what the media type promises is a
//    ChatTextResponseError; a stream that stops before [DONE] is a ChatTextIncompleteStreamError.
// Nothing here repeats a schema fact: every type comes from the generated file. openapi-fetch
// checks no response at run time (its types are compile-time only), so neither does this file,
// beyond what it needs not to crash: a body or an event must be a JSON object.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "../../generated/typescript/chat-text.js";

type Schemas = components["schemas"];
export type ChatTextRequest = Schemas["ChatTextRequest"];
export type ChatTextResponse = Schemas["ChatTextResponse"];
export type ChatTextChunk = Schemas["ChatTextChunk"];
export type ErrorResponse = Schemas["ErrorResponse"];
export type Usage = Schemas["Usage"];
export type ChatTextClient = Client<paths>;

export const PATH = "/inference/chat_text";
export const DONE = "[DONE]";

/** Base class of every error this module throws (fetch's own TypeError aside). */
export class ChatTextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The server answered an error status. `body` is the spec's ErrorResponse when the answer
 * had that shape, else undefined (and `raw` holds what came). */
export class ChatTextStatusError extends ChatTextError {
  constructor(
    readonly status: number,
    readonly body: ErrorResponse | undefined,
    readonly raw: unknown,
  ) {
    super(`HTTP ${status}: ${body ? `${body.error.code}: ${body.error.message}` : String(raw)}`);
  }
  get code(): string | undefined {
    return this.body?.error.code;
  }
}

/** A 2xx answer whose body is not what its media type promises (malformed JSON, bad event). */
export class ChatTextResponseError extends ChatTextError {}

/** An event stream that ended before `data: [DONE]`. */
export class ChatTextIncompleteStreamError extends ChatTextResponseError {}

export interface ClientOptions {
  baseUrl: string;
  token: string;
  fetch?: typeof globalThis.fetch;
}

export function createChatTextClient(options: ClientOptions): ChatTextClient {
  return createClient<paths>({
    baseUrl: options.baseUrl,
    headers: { Authorization: `Bearer ${options.token}` },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

/** A JSON object (not null, not an array): the least a body or an event must be before it is
 * handed out as a typed value (no other run-time check is made). */
function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isErrorResponse(value: unknown): value is ErrorResponse {
  if (typeof value !== "object" || value === null || !("error" in value)) return false;
  const detail: unknown = value.error;
  return (
    typeof detail === "object" &&
    detail !== null &&
    "code" in detail &&
    typeof detail.code === "string" &&
    "message" in detail &&
    typeof detail.message === "string"
  );
}

function statusError(status: number, error: unknown): ChatTextStatusError {
  return new ChatTextStatusError(status, isErrorResponse(error) ? error : undefined, error);
}

/** One JSON answer (`stream` must not be true). */
export async function chatText(
  client: ChatTextClient,
  body: ChatTextRequest,
): Promise<ChatTextResponse> {
  let result;
  try {
    result = await client.POST(PATH, { body });
  } catch (exc) {
    if (exc instanceof SyntaxError) {
      throw new ChatTextResponseError(`the answer is not JSON: ${exc.message}`);
    }
    throw exc;
  }
  const { data, error, response } = result;
  if (!response.ok) throw statusError(response.status, error);
  if (!isObject(data)) throw new ChatTextResponseError("the answer is not a JSON object");
  return data;
}

/** Frames server-sent events (the WHATWG rules this API uses: `data:` lines joined by "\n",
 * comments and other fields ignored, an event ends at a blank line). */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  let sawData = false;
  const reader = body.getReader();
  const lines = function* (final: boolean): Generator<string> {
    for (;;) {
      const match = /\r\n|\r|\n/.exec(buffer);
      if (match === null) break;
      // a lone "\r" at the end may be the first half of "\r\n": wait for more
      if (!final && match[0] === "\r" && match.index === buffer.length - 1) break;
      yield buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
    }
  };
  const take = function* (line: string): Generator<string> {
    if (line === "") {
      if (sawData) yield data.join("\n");
      data = [];
      sawData = false;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      data.push(value);
      sawData = true;
    }
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (const line of lines(done)) yield* take(line);
      if (done) break;
    }
  } finally {
    reader.releaseLock();
  }
}

/** The chunks of one streamed answer; `usage` is the last non-null usage seen (the spec puts
 * it in the last chunk), set once the stream has been read to `data: [DONE]`. */
export class ChatTextStream implements AsyncIterable<ChatTextChunk> {
  usage: Usage | null = null;
  done = false;
  constructor(private readonly body: ReadableStream<Uint8Array>) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<ChatTextChunk> {
    for await (const data of sseData(this.body)) {
      if (data === DONE) {
        this.done = true;
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch (exc) {
        throw new ChatTextResponseError(`an event is not JSON: ${String(exc)}: ${data}`);
      }
      if (!isObject(parsed)) {
        throw new ChatTextResponseError(`an event is not a JSON object: ${data}`);
      }
      const chunk = parsed as ChatTextChunk;
      if (chunk.usage) this.usage = chunk.usage;
      yield chunk;
    }
    throw new ChatTextIncompleteStreamError("the event stream ended before 'data: [DONE]'");
  }
}

/** A streamed answer (`stream: true` is set for you). */
export async function streamChatText(
  client: ChatTextClient,
  body: ChatTextRequest,
): Promise<ChatTextStream> {
  const { data, error, response } = await client.POST(PATH, {
    body: { ...body, stream: true },
    parseAs: "stream",
  });
  if (!response.ok) throw statusError(response.status, error);
  if (!data) throw new ChatTextResponseError("the streamed answer has no body");
  return new ChatTextStream(data);
}
