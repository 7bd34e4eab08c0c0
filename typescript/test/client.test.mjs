// The client against a scripted server on 127.0.0.1 (a free port, closed after each test).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { afterEach, test } from "node:test";

import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  BadRequestError,
  ChatText,
  IncompleteStreamError,
  InternalServerError,
  MissingAPIKeyError,
  MissingBaseURLError,
  RateLimitError,
  ResponseValidationError,
  StreamConnectionError,
  parseRetryAfter,
} from "chat-text";

const ANSWER = {
  id: "c1",
  created: 1764086400,
  model: "chat-text-base",
  choices: [{ index: 0, message: { role: "assistant", content: "Hi there." }, finish_reason: "stop" }],
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
};
const HEAD = { id: "c1", created: 1764086400, model: "chat-text-base" };
const event = (chunk) => `data: ${JSON.stringify(chunk)}\n\n`;
const HELLO = { model: "chat-text-base", messages: [{ role: "user", content: "Hi" }], max_tokens: 16 };

const servers = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Serve the replies in turn (the last one again when they run out); every request is kept. */
async function serve(...replies) {
  const seen = [];
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const part of req) body += part;
    seen.push({ headers: req.headers, body: body ? JSON.parse(body) : null });
    const reply = replies[Math.min(seen.length, replies.length) - 1];
    if (typeof reply === "function") return reply(req, res);
    res.writeHead(reply.status ?? 200, reply.headers ?? { "content-type": "application/json" });
    for (const part of reply.parts ?? []) {
      res.write(part);
      await new Promise((r) => setTimeout(r, 5)); // separate writes
    }
    if (reply.hang) return; // the client has to give up
    res.end();
  });
  server.closeAllConnectionsOnClose = true;
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  const close = server.close.bind(server);
  server.close = (cb) => {
    server.closeAllConnections();
    close(cb);
  };
  return { url: `http://127.0.0.1:${server.address().port}`, seen };
}

function client(url, options = {}) {
  const waits = [];
  const c = new ChatText({
    apiKey: "sk-test",
    baseURL: url,
    sleep: async (ms) => void waits.push(ms),
    ...options,
  });
  return { c, waits };
}

test("a JSON call sends only what is set and returns the typed answer", async () => {
  const { url, seen } = await serve({ parts: [JSON.stringify(ANSWER)] });
  const { c } = client(`${url}/`);
  const answer = await c.chatText(HELLO);
  assert.deepEqual(answer, ANSWER);
  assert.deepEqual(seen[0].body, HELLO);
  assert.equal(seen[0].headers.authorization, "Bearer sk-test");
  assert.equal(seen[0].headers.accept, "application/json");
  assert.equal(seen[0].headers["content-type"], "application/json");
});

test("a stream yields typed chunks, then the usage", async () => {
  const first = { ...HEAD, choices: [{ index: 0, delta: { role: "assistant", content: "Hi" }, finish_reason: null }], usage: null };
  const last = { ...HEAD, choices: [{ index: 0, delta: { content: " there." }, finish_reason: "stop" }], usage: ANSWER.usage };
  const one = `data: ${JSON.stringify(first)}`;
  // a BOM, CR line ends, a comment, the CR of a line end at the end of one write
  const parts = ["\uFEFF: ping\r", `\r${one.slice(0, 20)}`, `${one.slice(20)}\r`, `\rdata:${JSON.stringify(last)}\r\n\r\n`, "data: [DONE]\r\r"];
  const { url, seen } = await serve({ headers: { "content-type": "text/event-stream" }, parts });
  const stream = await client(url).c.chatText({ ...HELLO, stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices.map((c) => c.delta.content ?? "").join("");
  assert.equal(text, "Hi there.");
  assert.equal(stream.done, true);
  assert.deepEqual(stream.usage, ANSWER.usage);
  assert.equal(seen[0].body.stream, true);
  assert.equal(seen[0].headers.accept, "text/event-stream");
});

test("a stream the server ends before [DONE] is incomplete; one that breaks is a connection error", async () => {
  const chunk = event({ ...HEAD, choices: [], usage: null });
  const ended = await serve({ headers: { "content-type": "text/event-stream" }, parts: [chunk] });
  const stream = await client(ended.url).c.chatText({ ...HELLO, stream: true });
  const got = [];
  await assert.rejects(async () => {
    for await (const c of stream) got.push(c);
  }, (exc) => exc instanceof IncompleteStreamError && !(exc instanceof APIConnectionError));
  assert.equal(got.length, 1);
  const broken = await serve((req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(chunk);
    setTimeout(() => res.destroy(), 20);
  });
  const cut = await client(broken.url).c.chatText({ ...HELLO, stream: true });
  await assert.rejects(async () => {
    for await (const _ of cut);
  }, StreamConnectionError);
});

test("an event that is not a JSON object is a ResponseValidationError", async () => {
  const { url } = await serve({ headers: { "content-type": "text/event-stream" }, parts: ["data: [1]\n\ndata: [DONE]\n\n"] });
  const stream = await client(url).c.chatText({ ...HELLO, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream);
  }, (exc) => exc instanceof ResponseValidationError && !(exc instanceof IncompleteStreamError));
});

test("error statuses are typed and carry the spec's ErrorResponse", async () => {
  const body = { error: { code: "invalid_request", message: "temperature must be <= 2", field: "temperature" } };
  const { url } = await serve(
    { status: 400, parts: [JSON.stringify(body)] },
    { status: 502, headers: { "content-type": "text/html" }, parts: ["<h1>bad gateway</h1>"] },
    { status: 418, parts: [JSON.stringify({ error: { code: "teapot", message: "short and stout" } })] },
  );
  const { c } = client(url, { maxRetries: 0 });
  await assert.rejects(c.chatText(HELLO), (exc) => {
    assert.ok(exc instanceof BadRequestError && exc instanceof APIError);
    assert.equal(exc.status, 400);
    assert.equal(exc.code, "invalid_request");
    assert.equal(exc.error.error.field, "temperature");
    return true;
  });
  await assert.rejects(c.chatText(HELLO), (exc) => {
    assert.ok(exc instanceof InternalServerError);
    assert.equal(exc.error, undefined);
    assert.match(String(exc.body), /bad gateway/);
    return true;
  });
  await assert.rejects(c.chatText(HELLO), (exc) => exc.constructor === APIError && exc.code === "teapot");
});

test("retries honour retry-after-ms and Retry-After (seconds, HTTP-date), then back off", async () => {
  const date = new Date(Date.now() + 3_000).toUTCString();
  const { url, seen } = await serve(
    { status: 429, headers: { "retry-after": "2" } },
    { status: 503, headers: { "retry-after": date } },
    { status: 503, headers: { "retry-after-ms": "250", "retry-after": "9" } },
    { status: 500 },
    { parts: [JSON.stringify(ANSWER)] },
  );
  const { c, waits } = client(url, { maxRetries: 4 });
  assert.deepEqual(await c.chatText(HELLO), ANSWER);
  assert.equal(seen.length, 5);
  assert.equal(waits[0], 2_000);
  assert.ok(waits[1] > 1_000 && waits[1] <= 3_000, `HTTP-date: ${waits[1]}`); // whole seconds
  assert.equal(waits[2], 250);
  // retry 3 without a header: min(8 s, 0.5 s * 2^3) less up to 25 % jitter
  assert.ok(waits[3] > 3_000 && waits[3] <= 4_000, `backoff: ${waits[3]}`);
});

test("what is not retried", async () => {
  for (const [reply, attempts, type] of [
    [{ status: 400 }, 1, BadRequestError],
    [{ status: 429, headers: { "retry-after": "120" } }, 1, RateLimitError],
    [{ status: 503, headers: { "retry-after": "0" } }, 3, APIError],
  ]) {
    const { url, seen } = await serve(reply);
    await assert.rejects(client(url).c.chatText(HELLO), type);
    assert.equal(seen.length, attempts, `status ${reply.status}`);
  }
});

test("parseRetryAfter reads the three forms and ignores the rest", () => {
  const now = Date.parse("Sun, 01 Nov 2026 12:00:00 GMT");
  const h = (o) => new Headers(o);
  assert.equal(parseRetryAfter(h({ "retry-after": "1.5" }), now), 1_500);
  assert.equal(parseRetryAfter(h({ "retry-after": "Sun, 01 Nov 2026 12:00:04 GMT" }), now), 4_000);
  assert.equal(parseRetryAfter(h({ "retry-after": "Sun, 01 Nov 2026 11:00:00 GMT" }), now), 0);
  assert.equal(parseRetryAfter(h({ "retry-after-ms": "20", "retry-after": "5" }), now), 20);
  assert.equal(parseRetryAfter(h({ "retry-after": "soon" }), now), undefined);
  assert.equal(parseRetryAfter(h({ "retry-after": "-1" }), now), undefined);
  assert.equal(parseRetryAfter(h({}), now), undefined);
});

test("timeouts: a silent answer, a stalled stream; the caller's signal aborts", async () => {
  const silent = await serve({ parts: ['{"id": '], hang: true });
  await assert.rejects(client(silent.url, { timeout: 100, maxRetries: 0 }).c.chatText(HELLO), APIConnectionTimeoutError);
  const stalled = await serve({ headers: { "content-type": "text/event-stream" }, parts: [event({ ...HEAD, choices: [], usage: null })], hang: true });
  const stream = await client(stalled.url, { timeout: 100 }).c.chatText({ ...HELLO, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream);
  }, APIConnectionTimeoutError);
  const controller = new AbortController();
  const pending = client(silent.url).c.chatText(HELLO, { signal: controller.signal });
  controller.abort();
  await assert.rejects(pending, APIUserAbortError);
});

test("settings from the environment, and clear errors without them", () => {
  const saved = { ...process.env };
  try {
    process.env.CHAT_TEXT_API_KEY = "sk-from-env";
    process.env.CHAT_TEXT_BASE_URL = "http://127.0.0.1:9/v1/";
    const c = new ChatText();
    assert.equal(c.baseURL, "http://127.0.0.1:9/v1");
    assert.doesNotMatch(`${c} ${JSON.stringify(c)}`, /sk-from-env/);
    delete process.env.CHAT_TEXT_BASE_URL;
    assert.throws(() => new ChatText(), MissingBaseURLError);
    delete process.env.CHAT_TEXT_API_KEY;
    assert.throws(() => new ChatText({ baseURL: "http://127.0.0.1:9" }), MissingAPIKeyError);
    assert.throws(() => new ChatText({ apiKey: "k", baseURL: "ftp://x" }), RangeError);
    assert.throws(() => new ChatText({ apiKey: "k", baseURL: "http://x", timeout: 0 }), RangeError);
    assert.throws(() => new ChatText({ apiKey: "k", baseURL: "http://x", maxRetries: -1 }), RangeError);
  } finally {
    process.env = saved;
  }
});

test("the API key never reaches an error message", async () => {
  const { url } = await serve({ status: 401, parts: [JSON.stringify({ error: { code: "unauthorized", message: "bad token sk-test" } })] });
  await assert.rejects(client(url).c.chatText(HELLO), (exc) => !exc.message.includes("sk-test") && exc.message.includes("***"));
});
