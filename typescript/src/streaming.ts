// Server-sent events: the decoder only frames events (WHATWG HTML, "event stream"
// parsing); Stream adds the API's policy on top (`data: [DONE]` ends it, every other event
// is a ChatTextChunk, the usage arrives in the last chunk).
import {
  APIConnectionTimeoutError,
  APIUserAbortError,
  IncompleteStreamError,
  ResponseValidationError,
  StreamConnectionError,
  redact,
} from "./errors.js";
import type { ChatTextChunk, Usage } from "./types.js";

export const DONE = "[DONE]";

export interface ServerSentEvent {
  /** The event's `data` lines joined with "\n". */
  data: string;
  /** The `event` field, "message" when there was none. */
  event: string;
  /** The last event ID seen so far ("" when none). */
  id: string;
  /** The last reconnection time (`retry`) seen so far, in ms. */
  retry: number | undefined;
}

/** The bytes are not UTF-8 (the Python SDK refuses such a stream too). */
export class SSEDecodeError extends Error {}

/**
 * Frames server-sent events from bytes that arrive split anywhere:
 *  - a byte order mark (U+FEFF) at the very start is dropped;
 *  - lines end in LF, CRLF or CR, mixed; a CR at the end of one read and an LF at the start
 *    of the next are one line end;
 *  - a line starting with ":" is a comment;
 *  - "field: value" or "field:value" (one leading space is dropped from the value); a line
 *    without ":" is a field with an empty value;
 *  - `data` lines of one event are joined with "\n"; `event` sets the event's type, `id` the
 *    last event ID (unless the value holds a NUL), `retry` the reconnection time (digits
 *    only); other fields are ignored;
 *  - a blank line dispatches the event when it has data (an event without data is dropped)
 *    and resets its data and type;
 *  - an event not ended by a blank line when the stream ends is discarded.
 */
export class SSEDecoder {
  private readonly text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  private buffer = "";
  private started = false;
  private pendingCR = false;
  private data: string[] = [];
  private hasData = false;
  private eventType = "";
  private lastId = "";
  private retry: number | undefined = undefined;
  /** Comment lines seen so far (keep-alives). */
  comments = 0;

  /** The events completed by the next bytes of the stream. */
  feed(bytes: Uint8Array): ServerSentEvent[] {
    let chunk: string;
    try {
      chunk = this.text.decode(bytes, { stream: true });
    } catch {
      throw new SSEDecodeError("the event stream is not valid UTF-8");
    }
    return this.feedText(chunk);
  }

  /** The events completed by the next text of the stream (already decoded). */
  feedText(chunk: string): ServerSentEvent[] {
    if (this.pendingCR && chunk.length > 0) {
      if (chunk.startsWith("\n")) chunk = chunk.slice(1);
      this.pendingCR = false;
    }
    this.buffer += chunk;
    if (!this.started) {
      if (this.buffer.length === 0) return [];
      if (this.buffer.startsWith("\uFEFF")) this.buffer = this.buffer.slice(1);
      this.started = true;
    }
    const events: ServerSentEvent[] = [];
    let start = 0;
    const lineEnd = /[\r\n]/g;
    for (;;) {
      lineEnd.lastIndex = start;
      const match = lineEnd.exec(this.buffer);
      if (match === null) break;
      const end = match.index;
      let next = end + 1;
      if (match[0] === "\r") {
        if (next < this.buffer.length && this.buffer[next] === "\n") next += 1;
        else if (next === this.buffer.length) this.pendingCR = true;
      }
      const event = this.line(this.buffer.slice(start, end));
      if (event !== undefined) events.push(event);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** A partial line or an event without its blank line is buffered. */
  get pending(): boolean {
    return this.buffer.length > 0 || this.hasData;
  }

  private line(line: string): ServerSentEvent | undefined {
    if (line === "") {
      if (!this.hasData) {
        this.eventType = "";
        return undefined;
      }
      const event: ServerSentEvent = {
        data: this.data.join("\n"),
        event: this.eventType || "message",
        id: this.lastId,
        retry: this.retry,
      };
      this.data = [];
      this.hasData = false;
      this.eventType = "";
      return event;
    }
    if (line.startsWith(":")) {
      this.comments += 1;
      return undefined;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.data.push(value);
        this.hasData = true;
        break;
      case "event":
        this.eventType = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
    }
    return undefined;
  }
}

function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** How the client times and stops the reads of one answer. */
export interface ReadControl {
  /** Arm the timeout for the next read; the returned function disarms it. */
  arm(): () => void;
  timedOut(): boolean;
  userAborted(): boolean;
  /** Stop the request (and its body) and let go of the caller's signal. */
  release(): void;
  timeout: number;
  secret: string;
}

/**
 * The chunks of one streamed answer, as an async iterable (`for await (const chunk of
 * stream)`). The stream is complete only when `data: [DONE]` has arrived; a stream that
 * ends before it throws IncompleteStreamError (StreamConnectionError when the connection
 * broke), an event that is not a JSON object ResponseValidationError. `usage` is the last
 * non-null usage seen (the spec puts it in the last chunk). Breaking out of the loop, or
 * close(), releases the connection.
 */
export class Stream implements AsyncIterable<ChatTextChunk> {
  usage: Usage | null = null;
  done = false;
  private consumed = false;

  constructor(
    readonly response: Response,
    private readonly control: ReadControl,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<ChatTextChunk> {
    if (this.consumed) throw new TypeError("a Stream can be iterated only once");
    this.consumed = true;
    const body = this.response.body;
    if (body === null) throw this.invalid("the streamed answer has no body");
    const reader = body.getReader();
    const decoder = new SSEDecoder();
    try {
      while (!this.done) {
        const { done, value } = await this.read(reader);
        if (done) {
          throw new IncompleteStreamError("the event stream ended before 'data: [DONE]'", {
            status: this.response.status,
            headers: this.response.headers,
          });
        }
        let events: ServerSentEvent[];
        try {
          events = decoder.feed(value);
        } catch (exc) {
          throw this.invalid(exc instanceof Error ? exc.message : String(exc));
        }
        for (const event of events) {
          if (event.data === DONE) {
            this.done = true;
            break;
          }
          yield this.chunk(event.data);
        }
      }
    } finally {
      this.control.release();
      reader.releaseLock();
    }
  }

  /** Stop reading and release the connection. */
  async close(): Promise<void> {
    this.control.release();
    if (!this.consumed) {
      this.consumed = true;
      await this.response.body?.cancel().catch(() => undefined);
    }
  }

  private async read(
    reader: ReadableStreamDefaultReader<Uint8Array>,
  ): Promise<ReadableStreamReadResult<Uint8Array>> {
    const disarm = this.control.arm();
    try {
      return await reader.read();
    } catch (exc) {
      const text = redact(exc instanceof Error ? exc.message : String(exc), this.control.secret);
      if (this.control.userAborted()) {
        throw new APIUserAbortError("the request was aborted", { cause: exc });
      }
      if (this.control.timedOut()) {
        throw new APIConnectionTimeoutError(
          `no data for ${this.control.timeout} ms while reading the event stream`,
          { cause: exc },
        );
      }
      throw new StreamConnectionError(`the event stream broke before 'data: [DONE]': ${text}`, {
        cause: exc,
      });
    } finally {
      disarm();
    }
  }

  private chunk(data: string): ChatTextChunk {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch (exc) {
      throw this.invalid(`an event is not JSON: ${String(exc)}`, data);
    }
    if (!isObject(parsed)) throw this.invalid("an event is not a JSON object", data);
    const chunk = parsed as ChatTextChunk;
    if (chunk.usage) this.usage = chunk.usage;
    return chunk;
  }

  private invalid(message: string, body?: string): ResponseValidationError {
    return new ResponseValidationError(redact(message, this.control.secret), {
      status: this.response.status,
      headers: this.response.headers,
      body,
    });
  }
}
