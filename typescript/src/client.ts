// ChatText: POST /inference/chat_text over fetch (Node 20+, browsers, any runtime with
// fetch), typed by the generated types, with a finite timeout, retries, typed errors and
// streaming. No runtime dependency.
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  MissingAPIKeyError,
  MissingBaseURLError,
  ResponseValidationError,
  isErrorResponse,
  redact,
  statusErrorClass,
} from "./errors.js";
import {
  DEFAULT_RETRY_POLICY,
  checkPolicy,
  isRetryableStatus,
  retryDelay,
  type RetryPolicy,
} from "./retries.js";
import { Stream, type ReadControl } from "./streaming.js";
import type { ChatTextRequest, ChatTextResponse, paths } from "./types.js";

export const API_KEY_ENV = "CHAT_TEXT_API_KEY";
export const BASE_URL_ENV = "CHAT_TEXT_BASE_URL";
/** Per attempt: for a JSON call, the whole answer; for a stream, until the answer arrives,
 * then each read (a long stream is fine, a silent one is not). */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Retries after the first attempt (so at most 3 attempts). */
export const DEFAULT_MAX_RETRIES = 2;

// The operation's path, checked against the generated paths at compile time.
const PATH: keyof paths = "/inference/chat_text";

export interface ClientOptions {
  /** Bearer token; default `$CHAT_TEXT_API_KEY` where the runtime has an environment. */
  apiKey?: string;
  /** e.g. `https://llm.example.com`; default `$CHAT_TEXT_BASE_URL`. */
  baseURL?: string;
  /** Milliseconds per attempt (default 60 000); must be positive. */
  timeout?: number;
  /** Retries after the first attempt (default 2). */
  maxRetries?: number;
  retryPolicy?: Partial<RetryPolicy>;
  /** Headers sent with every request. */
  defaultHeaders?: Record<string, string>;
  /** The fetch to call (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** How to wait between attempts (default: a timer that the call's signal can cut). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface RequestOptions {
  /** Milliseconds per attempt for this call. */
  timeout?: number;
  maxRetries?: number;
  /** Abort the call (APIUserAbortError). */
  signal?: AbortSignal;
}

export type ChatTextParams = ChatTextRequest;
export type ChatTextParamsNonStreaming = ChatTextRequest & { stream?: false | null };
export type ChatTextParamsStreaming = ChatTextRequest & { stream: true };

function environment(name: string): string | undefined {
  const runtime = globalThis as { process?: { env?: Record<string, string | undefined> } };
  const value = runtime.process?.env?.[name];
  return value === "" ? undefined : value;
}

function checkCount(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be an integer >= 0, got ${String(value)}`);
  }
  return value;
}

function checkTimeout(value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`timeout must be a positive number of milliseconds, got ${value}`);
  }
  return value;
}

/** Retried: no answer (connection errors, timeouts) and the retryable statuses. */
function retryable(exc: APIError): boolean {
  if (exc instanceof APIConnectionError) return true;
  if (exc instanceof APIUserAbortError || exc instanceof ResponseValidationError) return false;
  return exc.status !== undefined && isRetryableStatus(exc.status);
}

function abortable(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** One request in flight: its controller, the timeout, the caller's signal. */
class Attempt implements ReadControl {
  readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private fired = false;
  private readonly onUserAbort = (): void => this.controller.abort();

  constructor(
    readonly timeout: number,
    readonly secret: string,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal?.aborted) this.controller.abort();
    signal?.addEventListener("abort", this.onUserAbort, { once: true });
  }

  arm(): () => void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.fired = true;
      this.controller.abort();
    }, this.timeout);
    return () => clearTimeout(this.timer);
  }

  timedOut(): boolean {
    return this.fired;
  }

  userAborted(): boolean {
    return this.signal?.aborted === true;
  }

  release(): void {
    clearTimeout(this.timer);
    this.signal?.removeEventListener("abort", this.onUserAbort);
    this.controller.abort();
  }

  /** The error for a fetch or body read that failed. */
  failure(exc: unknown): APIError {
    if (this.userAborted()) return new APIUserAbortError("the request was aborted", { cause: exc });
    if (this.fired) {
      return new APIConnectionTimeoutError(`the request timed out after ${this.timeout} ms`, {
        cause: exc,
      });
    }
    let text = exc instanceof Error ? exc.message : String(exc);
    if (exc instanceof Error && exc.cause instanceof Error) text += ` (${exc.cause.message})`;
    return new APIConnectionError(`connection error: ${redact(text, this.secret)}`, {
      cause: exc,
    });
  }
}

/** The chat-text client (see the package README). */
export class ChatText {
  readonly baseURL: string;
  readonly timeout: number;
  readonly maxRetries: number;
  readonly retryPolicy: Readonly<RetryPolicy>;
  readonly #apiKey: string;
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: ClientOptions = {}) {
    const apiKey = options.apiKey ?? environment(API_KEY_ENV);
    if (!apiKey) {
      throw new MissingAPIKeyError(
        `no API key: pass { apiKey } or set the ${API_KEY_ENV} environment variable`,
      );
    }
    if (/[\r\n]/.test(apiKey)) throw new MissingAPIKeyError("the API key must be one line");
    const base = options.baseURL ?? environment(BASE_URL_ENV);
    if (!base) {
      throw new MissingBaseURLError(
        `no base URL: pass { baseURL } or set the ${BASE_URL_ENV} environment variable`,
      );
    }
    let parsed: URL;
    try {
      parsed = new URL(base);
    } catch {
      throw new RangeError(`baseURL must be an http(s) URL, got ${JSON.stringify(base)}`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new RangeError(`baseURL must be an http(s) URL, got ${JSON.stringify(base)}`);
    }
    this.baseURL = base.replace(/\/+$/, "");
    this.timeout = checkTimeout(options.timeout ?? DEFAULT_TIMEOUT_MS);
    this.maxRetries = checkCount("maxRetries", options.maxRetries ?? DEFAULT_MAX_RETRIES);
    this.retryPolicy = Object.freeze({ ...DEFAULT_RETRY_POLICY, ...options.retryPolicy });
    checkPolicy(this.retryPolicy);
    this.#apiKey = apiKey;
    this.#url = this.baseURL + PATH;
    this.#headers = {
      ...options.defaultHeaders,
      Authorization: `Bearer ${apiKey}`,
      "Content-Type": "application/json",
    };
    const fetcher = options.fetch ?? globalThis.fetch;
    if (typeof fetcher !== "function") {
      throw new TypeError("no fetch: pass { fetch } (this runtime has no global fetch)");
    }
    this.#fetch = fetcher;
    this.#sleep = options.sleep ?? abortable;
  }

  /** Never shows the API key. */
  toString(): string {
    return `ChatText(baseURL=${this.baseURL}, apiKey=***)`;
  }

  toJSON(): Record<string, unknown> {
    return { baseURL: this.baseURL, timeout: this.timeout, maxRetries: this.maxRetries };
  }

  /** Create a chat completion: the ChatTextResponse, or with `stream: true` a Stream of
   * ChatTextChunks (`for await`; `stream.usage` once it is done). Fields left out are not
   * sent: the server applies the spec's defaults. */
  chatText(body: ChatTextParamsNonStreaming, options?: RequestOptions): Promise<ChatTextResponse>;
  chatText(body: ChatTextParamsStreaming, options?: RequestOptions): Promise<Stream>;
  chatText(body: ChatTextParams, options?: RequestOptions): Promise<ChatTextResponse | Stream>;
  async chatText(
    body: ChatTextParams,
    options: RequestOptions = {},
  ): Promise<ChatTextResponse | Stream> {
    const streaming = body.stream === true;
    let payload: string;
    try {
      payload = JSON.stringify(body);
    } catch (exc) {
      throw new TypeError(`the request cannot be sent as JSON: ${String(exc)}`);
    }
    const timeout = checkTimeout(options.timeout ?? this.timeout);
    const maxRetries = checkCount("maxRetries", options.maxRetries ?? this.maxRetries);
    for (let retry = 0; ; retry += 1) {
      const attempt = new Attempt(timeout, this.#apiKey, options.signal);
      let failure: APIError;
      try {
        const result = await this.#attempt(attempt, payload, streaming);
        if (!(result instanceof Stream)) attempt.release();
        return result;
      } catch (exc) {
        attempt.release();
        if (!(exc instanceof APIError) || !retryable(exc)) throw exc;
        failure = exc;
      }
      if (retry >= maxRetries) throw failure;
      const headers = failure instanceof APIConnectionError ? undefined : failure.headers;
      const wait = retryDelay(this.retryPolicy, retry, headers, Date.now(), Math.random());
      if (wait === undefined) throw failure;
      try {
        await this.#sleep(wait, options.signal);
      } catch (exc) {
        throw new APIUserAbortError("the request was aborted", { cause: exc });
      }
    }
  }

  async #attempt(
    attempt: Attempt,
    payload: string,
    streaming: boolean,
  ): Promise<ChatTextResponse | Stream> {
    let response: Response;
    const disarm = attempt.arm();
    try {
      response = await this.#fetch(this.#url, {
        method: "POST",
        headers: { ...this.#headers, Accept: streaming ? "text/event-stream" : "application/json" },
        body: payload,
        signal: attempt.controller.signal,
      });
      if (response.status !== 200 || !streaming) {
        const raw = new Uint8Array(await response.arrayBuffer());
        if (response.status === 200) return this.#answer(response, raw);
        if (response.status < 400) throw this.#invalid("unexpected status", response, raw);
        throw this.#statusError(response, raw);
      }
    } catch (exc) {
      throw exc instanceof APIError ? exc : attempt.failure(exc);
    } finally {
      disarm(); // a stream's reads are timed one by one by the Stream
    }
    const ctype = response.headers.get("content-type") ?? "";
    if (!ctype.startsWith("text/event-stream")) {
      const again = attempt.arm();
      let raw: Uint8Array;
      try {
        raw = new Uint8Array(await response.arrayBuffer());
      } catch (exc) {
        throw attempt.failure(exc);
      } finally {
        again();
      }
      throw this.#invalid(`expected text/event-stream, got ${JSON.stringify(ctype)}`, response, raw);
    }
    return new Stream(response, attempt);
  }

  #answer(response: Response, raw: Uint8Array): ChatTextResponse {
    const ctype = response.headers.get("content-type") ?? "";
    if (ctype && !ctype.startsWith("application/json")) {
      throw this.#invalid(`expected application/json, got ${JSON.stringify(ctype)}`, response, raw);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
    } catch (exc) {
      throw this.#invalid(`the answer is not JSON: ${String(exc)}`, response, raw);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw this.#invalid("the answer is not a JSON object", response, raw);
    }
    return parsed as ChatTextResponse;
  }

  #statusError(response: Response, raw: Uint8Array): APIError {
    let body: unknown = new TextDecoder().decode(raw);
    try {
      body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
    } catch {
      // not JSON: keep the text
    }
    const error = isErrorResponse(body) ? body : undefined;
    const detail = error
      ? `${error.error.code}: ${error.error.message}`
      : `(the body is not an ErrorResponse) ${String(JSON.stringify(body)).slice(0, 200)}`;
    const ErrorClass = statusErrorClass(response.status);
    return new ErrorClass(redact(`HTTP ${response.status}: ${detail}`, this.#apiKey), {
      status: response.status,
      headers: response.headers,
      error,
      body,
    });
  }

  #invalid(message: string, response: Response, raw: Uint8Array): ResponseValidationError {
    return new ResponseValidationError(
      redact(`${message} (HTTP ${response.status})`, this.#apiKey),
      { status: response.status, headers: response.headers, body: new TextDecoder().decode(raw) },
    );
  }
}
