// Every error the client throws, in one place (openai-node's shape: an APIError base, a
// subclass per documented status, carrying the spec's ErrorResponse):
//
//   ChatTextError                      base of everything thrown here
//   ├── MissingAPIKeyError             no apiKey option and no CHAT_TEXT_API_KEY
//   ├── MissingBaseURLError            no baseURL option and no CHAT_TEXT_BASE_URL
//   └── APIError                       a call failed; status, headers, error (ErrorResponse)
//       ├── APIConnectionError         no complete answer arrived (retried)
//       │   ├── APIConnectionTimeoutError   the timeout fired (retried)
//       │   └── StreamConnectionError  the connection broke in the middle of a stream
//       ├── APIUserAbortError          the caller's AbortSignal fired
//       ├── ResponseValidationError    an answer the spec does not allow (not JSON, wrong
//       │   │                          media type, an event that is not a JSON object)
//       │   └── IncompleteStreamError  a stream the server ended before `data: [DONE]`
//       └── one class per documented error status: BadRequestError 400,
//           AuthenticationError 401, NotFoundError 404, RequestTooLargeError 413,
//           UnsupportedMediaTypeError 415, RateLimitError 429 (retried), InternalServerError
//           500 and any other 5xx (retried), ServiceUnavailableError 503 (retried); other
//           statuses are a plain APIError.
//
// Messages never contain the API key.
import type { DocumentedErrorStatus, ErrorResponse } from "./types.js";

export class ChatTextError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class MissingAPIKeyError extends ChatTextError {}
export class MissingBaseURLError extends ChatTextError {}

export class APIError extends ChatTextError {
  /** The HTTP status, when an answer arrived. */
  readonly status: number | undefined;
  readonly headers: Headers | undefined;
  /** The spec's ErrorResponse, when the body had that shape. */
  readonly error: ErrorResponse | undefined;
  /** The body as it came (parsed JSON when it was JSON, else text). */
  readonly body: unknown;

  constructor(
    message: string,
    init: {
      status?: number;
      headers?: Headers;
      error?: ErrorResponse;
      body?: unknown;
      cause?: unknown;
    } = {},
  ) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.headers = init.headers;
    this.error = init.error;
    this.body = init.body;
  }

  /** error.error.code, when the body was an ErrorResponse. */
  get code(): string | undefined {
    return this.error?.error.code;
  }
}

export class APIConnectionError extends APIError {}
export class APIConnectionTimeoutError extends APIConnectionError {}
/** The connection broke while an event stream was being read: the stream is incomplete and
 * the cause is the network (as the Python SDK's StreamConnectionError). */
export class StreamConnectionError extends APIConnectionError {}
export class APIUserAbortError extends APIError {}
export class ResponseValidationError extends APIError {}
export class IncompleteStreamError extends ResponseValidationError {}

export class BadRequestError extends APIError {}
export class AuthenticationError extends APIError {}
export class NotFoundError extends APIError {}
export class RequestTooLargeError extends APIError {}
export class UnsupportedMediaTypeError extends APIError {}
export class RateLimitError extends APIError {}
export class InternalServerError extends APIError {}
export class ServiceUnavailableError extends APIError {}

type ErrorClass = typeof APIError;

// Keyed by the spec's documented error statuses: a status added to or removed from
// openapi.yaml is a compile error here until it has (or loses) its class.
const BY_STATUS: { [S in DocumentedErrorStatus]: ErrorClass } = {
  400: BadRequestError,
  401: AuthenticationError,
  404: NotFoundError,
  413: RequestTooLargeError,
  415: UnsupportedMediaTypeError,
  429: RateLimitError,
  500: InternalServerError,
  503: ServiceUnavailableError,
};

/** The class thrown for an error status. */
export function statusErrorClass(status: number): ErrorClass {
  const known = (BY_STATUS as Record<number, ErrorClass | undefined>)[status];
  if (known !== undefined) return known;
  return status >= 500 ? InternalServerError : APIError;
}

/** The spec's ErrorResponse shape as far as it is checked at run time: `error.code` and
 * `error.message` are strings (the types are compile-time only; no schema is checked). */
export function isErrorResponse(value: unknown): value is ErrorResponse {
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

export function redact(text: string, secret: string): string {
  return secret ? text.split(secret).join("***") : text;
}
