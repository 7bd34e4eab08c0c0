// chat-text for TypeScript and JavaScript: a fetch-based client for POST /inference/chat_text
// (Node 20+ and browsers; no runtime dependency), typed by the openapi-typescript output of
// openapi.yaml.
//
//   import { ChatText } from "chat-text";
//   const client = new ChatText();            // CHAT_TEXT_API_KEY, CHAT_TEXT_BASE_URL
//   const answer = await client.chatText({ model, messages });
//   const stream = await client.chatText({ model, messages, stream: true });
//   for await (const chunk of stream) { ... }  // then stream.usage
export {
  API_KEY_ENV,
  BASE_URL_ENV,
  ChatText,
  DEFAULT_MAX_RETRIES,
  DEFAULT_TIMEOUT_MS,
  type ChatTextParams,
  type ChatTextParamsNonStreaming,
  type ChatTextParamsStreaming,
  type ClientOptions,
  type RequestOptions,
} from "./client.js";
export {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ChatTextError,
  IncompleteStreamError,
  InternalServerError,
  MissingAPIKeyError,
  MissingBaseURLError,
  NotFoundError,
  RateLimitError,
  RequestTooLargeError,
  ResponseValidationError,
  ServiceUnavailableError,
  StreamConnectionError,
  UnsupportedMediaTypeError,
  statusErrorClass,
} from "./errors.js";
export {
  DEFAULT_RETRY_POLICY,
  isRetryableStatus,
  parseRetryAfter,
  type RetryPolicy,
} from "./retries.js";
export { DONE, SSEDecodeError, SSEDecoder, Stream, type ServerSentEvent } from "./streaming.js";
export type {
  ChatTextChunk,
  ChatTextRequest,
  ChatTextResponse,
  ErrorResponse,
  Message,
  Role,
  Usage,
} from "./types.js";
export type { components, operations, paths } from "./chat-text.js";
