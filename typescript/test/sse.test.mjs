// The event-stream grammar of the package's decoder (WHATWG HTML "event stream" parsing).
import assert from "node:assert/strict";
import { test } from "node:test";

import { SSEDecodeError, SSEDecoder } from "chat-text";

const bytes = (text) => new TextEncoder().encode(text);

function feed(...parts) {
  const decoder = new SSEDecoder();
  const events = parts.flatMap((part) => decoder.feed(typeof part === "string" ? bytes(part) : part));
  return { events, decoder };
}

const datas = (events) => events.map((event) => event.data);

test("CR, LF and CRLF line ends, mixed", () => {
  const { events } = feed("data: a\n\ndata: b\r\rdata: c\r\n\r\ndata: d\r\n\n");
  assert.deepEqual(datas(events), ["a", "b", "c", "d"]);
});

test("a CR at the end of one read and an LF at the start of the next are one line end", () => {
  // as two line ends the "\n" would be a blank line and dispatch "a" alone
  const { events } = feed("data: a\r", "\ndata: b\r", "\n\r", "\n");
  assert.deepEqual(datas(events), ["a\nb"]);
});

test("a leading BOM is dropped, also when its bytes arrive one by one; a later one is not", () => {
  const stream = bytes("\uFEFFdata: x\n\n");
  assert.deepEqual(datas(feed(stream).events), ["x"]);
  const split = [stream.slice(0, 1), stream.slice(1, 2), stream.slice(2)];
  assert.deepEqual(datas(feed(...split).events), ["x"]);
  assert.deepEqual(datas(feed("data: x\n\n\uFEFFdata: y\n\n").events), ["x"]);
});

test("id, event and retry fields, comments anywhere, data with and without a space", () => {
  const { events, decoder } = feed(
    ": keep-alive\n",
    "id: 7\nevent: chunk\nretry: 1500\ndata:no space\n: between data lines\ndata:  two spaces\n\n",
    "id: bad\0id\nretry: 10s\ndata\n\n",
    "event: lone\n\n", // no data: dropped, and the type is reset
    "data: last\n\n",
  );
  assert.deepEqual(events, [
    { data: "no space\n two spaces", event: "chunk", id: "7", retry: 1500 },
    { data: "", event: "message", id: "7", retry: 1500 },
    { data: "last", event: "message", id: "7", retry: 1500 },
  ]);
  assert.equal(decoder.comments, 2);
});

test("events split across reads at every byte, a multi-byte character included", () => {
  const stream = bytes('\uFEFF: hi\r\nid: 1\r\ndata: {"a": "é"}\r\n\r\ndata:b\rdata: c\r\rdata: [DONE]\n\n');
  const whole = feed(stream).events;
  assert.deepEqual(datas(whole), ['{"a": "é"}', "b\nc", "[DONE]"]);
  for (let cut = 0; cut <= stream.length; cut += 1) {
    assert.deepEqual(feed(stream.slice(0, cut), stream.slice(cut)).events, whole, `cut at ${cut}`);
  }
  const single = Array.from(stream, (_, i) => stream.slice(i, i + 1));
  assert.deepEqual(feed(...single).events, whole);
});

test("an event not ended by a blank line stays pending", () => {
  const { events, decoder } = feed("data: a\n\ndata: b\n");
  assert.deepEqual(datas(events), ["a"]);
  assert.equal(decoder.pending, true);
});

test("bytes that are not UTF-8 are refused", () => {
  assert.throws(() => feed(new Uint8Array([0x64, 0x61, 0x74, 0x61, 0x3a, 0xff, 0x0a])), SSEDecodeError);
});
