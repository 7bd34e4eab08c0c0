// The API's types, all from the openapi-typescript output of openapi.yaml
// (generated/typescript/chat-text.d.ts, never edited; the build copies it next to the
// compiled files as dist/chat-text.d.ts). Nothing here repeats a schema fact.
import type { components, operations, paths } from "./chat-text.js";

export type { paths };

type Schemas = components["schemas"];
export type ChatTextRequest = Schemas["ChatTextRequest"];
export type ChatTextResponse = Schemas["ChatTextResponse"];
export type ChatTextChunk = Schemas["ChatTextChunk"];
export type ErrorResponse = Schemas["ErrorResponse"];
export type Message = Schemas["Message"];
export type Role = Schemas["Role"];
export type Usage = Schemas["Usage"];

/** The error statuses openapi.yaml documents for the operation (each has an error class). */
export type DocumentedErrorStatus = Exclude<keyof operations["chat_text"]["responses"], 200>;
