// A small TypeScript consumer of the chat-text API, type-checked against types generated
// from openapi.yaml by openapi-typescript (see typescript/check_types.py, tox -e typescript).
// The generated file is generated/typescript/chat-text.d.ts (chat-text-regenerate writes it and
// checks it for drift); it is never edited.
import type { components, operations, paths } from "../generated/typescript/chat-text";

type Schemas = components["schemas"];
type ChatTextRequest = Schemas["ChatTextRequest"];
type ChatTextResponse = Schemas["ChatTextResponse"];
type ChatTextChunk = Schemas["ChatTextChunk"];
type ErrorResponse = Schemas["ErrorResponse"];

// The operation is POST /inference/chat_text with a JSON body.
type ChatTextOperation = paths["/inference/chat_text"]["post"];
type RequestBody = ChatTextOperation["requestBody"]["content"]["application/json"];
type Ok = operations["chat_text"]["responses"][200]["content"]["application/json"];

// Only model and messages are required: fields with server-applied defaults stay optional
// (--default-non-nullable false), and null means "use the default".
export const minimal: RequestBody = {
  model: "chat-text-base",
  messages: [{ role: "user", content: "What is the capital of France?" }],
};

export const everyField: ChatTextRequest = {
  model: "chat-text-mini",
  messages: [
    { role: "system", content: "You are a terse assistant." },
    { role: "user", content: "Name three primary colours." },
  ],
  max_tokens: 64,
  prompt_truncate_len: null,
  temperature: 0,
  top_p: null,
  stream: false,
};

// Nucleus sampling (spec 1.1.0): top_p is an optional number or null, in (0, 1]. Change it
// or temperature, not both, so temperature is left out here.
export const nucleus: ChatTextRequest = {
  model: "chat-text-base",
  messages: [{ role: "user", content: "Suggest a name for a lighthouse." }],
  top_p: 0.5,
};

export function withTopP(request: ChatTextRequest, topP: number | null): ChatTextRequest {
  const previous: number | null | undefined = request.top_p;
  return previous === topP ? request : { ...request, top_p: topP };
}

export function firstAnswer(response: Ok): string {
  const choice = response.choices[0];
  const reason: "stop" | "length" = choice.finish_reason;
  const total: number | undefined = response.usage?.total_tokens;
  return `${choice.message.content} (${reason}, ${total ?? "?"} tokens)`;
}

export function joinStream(chunks: ChatTextChunk[]): string {
  return chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
}

export function describeError(body: ErrorResponse): string {
  const where: string | null | undefined = body.error.field;
  return where ? `${body.error.code} at ${where}: ${body.error.message}` : body.error.message;
}

export const response: ChatTextResponse = {
  id: "chatcmpl-1",
  created: 1764086400,
  model: "chat-text-base",
  choices: [
    { index: 0, message: { role: "assistant", content: "Paris." }, finish_reason: "stop" },
  ],
  usage: null,
};

// The types are real: "robot" is not a role, so this must not compile. check_types.py
// removes the directive below and asserts that tsc then fails on exactly this line.
export const invalidRole: ChatTextRequest = {
  model: "chat-text-base",
  // @ts-expect-error -- invalid role: must be system, user or assistant
  messages: [{ role: "robot", content: "beep" }],
};
