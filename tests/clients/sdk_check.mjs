// The official SDKs against a running antigravityd whose providers point at
// agd-mock-upstream (see test_sdks.py). Usage: node sdk_check.mjs BASE_URL
// Every check prints one line; the exit status is the number of failures.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";

const base = process.argv[2];
const oa = new OpenAI({ apiKey: "client-key", baseURL: base + "/v1", maxRetries: 0 });
const an = new Anthropic({ apiKey: "client-key", baseURL: base, maxRetries: 0 });
const gg = new GoogleGenAI({ apiKey: "client-key", httpOptions: { baseUrl: base } });

// The mock's text: cred=<key>;model=<model>;#0;#1;...
const text = (cred, model, n) => `cred=${cred};model=${model};` + [...Array(n).keys()].map((i) => `#${i};`).join("");

let failures = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok    ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL  ${name}: ${e && e.stack ? e.stack.split("\n").slice(0, 3).join(" | ") : e}`);
  }
}
function eq(got, want) {
  if (got !== want) throw new Error(`got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
async function throws(fn, pred, what) {
  let err = null;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  if (!err) throw new Error(`no error raised (${what})`);
  if (!pred(err)) throw new Error(`unexpected error ${err.constructor.name} ${err.status}: ${err.message}`);
}

await check("openai chat", async () => {
  const c = await oa.chat.completions.create({ model: "gpt-sdk", messages: [{ role: "user", content: "hi" }] });
  eq(c.choices[0].message.content, text("ko", "gpt-sdk", 3));
});
await check("openai chat stream with usage", async () => {
  let s = "", usage = null;
  const st = await oa.chat.completions.create({ model: "gpt-sdk+chunks=5", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "hi" }] });
  for await (const ch of st) {
    s += ch.choices[0]?.delta?.content ?? "";
    if (ch.usage) usage = ch.usage;
  }
  eq(s, text("ko", "gpt-sdk+chunks=5", 5));
  eq(usage.completion_tokens, 5);
});
await check("openai responses", async () => {
  const r = await oa.responses.create({ model: "gpt-sdk", input: "hi" });
  eq(r.output_text, text("kr", "gpt-sdk", 3));
});
await check("openai responses stream", async () => {
  let s = "", done = false;
  for await (const ev of await oa.responses.create({ model: "gpt-sdk+chunks=4", input: "hi", stream: true })) {
    if (ev.type === "response.output_text.delta") s += ev.delta;
    if (ev.type === "response.completed") done = true;
  }
  eq(s, text("kr", "gpt-sdk+chunks=4", 4));
  eq(done, true);
});
await check("openai models list", async () => {
  const ids = (await oa.models.list()).data.map((m) => m.id);
  eq(ids.includes("sdk-fast"), true);
});
await check("anthropic messages", async () => {
  const m = await an.messages.create({ model: "claude-sdk", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
  eq(m.content[0].text, text("ka", "claude-sdk", 3));
});
await check("anthropic messages stream", async () => {
  let s = "";
  const st = an.messages.stream({ model: "claude-sdk+chunks=4", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
  st.on("text", (t) => (s += t));
  const final = await st.finalMessage();
  eq(s, text("ka", "claude-sdk+chunks=4", 4));
  eq(final.stop_reason, "end_turn");
});
await check("anthropic count_tokens", async () => {
  const r = await an.messages.countTokens({ model: "claude-sdk", messages: [{ role: "user", content: "hi" }] });
  eq(typeof r.input_tokens, "number");
});
await check("gemini generateContent", async () => {
  const g = await gg.models.generateContent({ model: "gemini-sdk", contents: "hi" });
  eq(g.text, text("kg", "gemini-sdk", 3));
});
await check("gemini streamGenerateContent", async () => {
  let s = "";
  for await (const ch of await gg.models.generateContentStream({ model: "gemini-sdk+chunks=4", contents: "hi" })) s += ch.text ?? "";
  eq(s, text("kg", "gemini-sdk+chunks=4", 4));
});
await check("gemini countTokens", async () => {
  const r = await gg.models.countTokens({ model: "gemini-sdk", contents: "hi" });
  eq(typeof r.totalTokens, "number");
});

// Failures must reach the SDKs as errors, never as a clean end.
const midstream = (e) => /mid-stream/.test(String(e.message) + JSON.stringify(e.error ?? ""));
await check("openai chat: upstream reset mid-stream raises", () =>
  throws(async () => { for await (const _ of await oa.chat.completions.create({ model: "gpt-sdk+chunks=6+reset_after=2", stream: true, messages: [{ role: "user", content: "hi" }] })); }, midstream, "chat"));
await check("openai responses: upstream reset mid-stream raises", () =>
  throws(async () => { for await (const _ of await oa.responses.create({ model: "gpt-sdk+chunks=6+reset_after=2", input: "hi", stream: true })); }, midstream, "responses"));
await check("anthropic: upstream reset mid-stream raises", () =>
  throws(async () => { await an.messages.stream({ model: "claude-sdk+chunks=6+reset_after=2", max_tokens: 8, messages: [{ role: "user", content: "hi" }] }).finalMessage(); }, midstream, "messages"));
await check("gemini: upstream reset mid-stream raises", () =>
  throws(async () => { for await (const _ of await gg.models.generateContentStream({ model: "gemini-sdk+chunks=6+reset_after=2", contents: "hi" })); }, midstream, "gemini"));
await check("anthropic: stream without terminal event raises", () =>
  throws(async () => { await an.messages.stream({ model: "claude-sdk+chunks=3+noterm=1", max_tokens: 8, messages: [{ role: "user", content: "hi" }] }).finalMessage(); }, (e) => /terminal event/.test(String(e.message)), "noterm"));
await check("openai: 429 is a RateLimitError", () =>
  throws(() => oa.chat.completions.create({ model: "gpt-sdk+status=429+retry_after=7", messages: [{ role: "user", content: "hi" }] }), (e) => e instanceof OpenAI.RateLimitError, "429"));
await check("anthropic: unknown model is a NotFoundError", () =>
  throws(() => an.messages.create({ model: "nope", max_tokens: 8, messages: [{ role: "user", content: "hi" }] }), (e) => e instanceof Anthropic.NotFoundError, "404"));
await check("openai: bad request body is a BadRequestError", () =>
  throws(() => oa.chat.completions.create({ messages: [] }), (e) => e instanceof OpenAI.BadRequestError, "400"));

// Embeddings, images and audio (OpenAI providers; Gemini embeddings).
await check("openai embeddings", async () => {
  const e = await oa.embeddings.create({ model: "text-embedding-3-small", input: ["one", "two"] });
  eq(e.data.length, 2);
  eq(e.data[0].embedding.length > 0 && typeof e.data[0].embedding[0], "number");
});
await check("gemini embedContent", async () => {
  const r = await gg.models.embedContent({ model: "gemini-embedding-001", contents: "hello" });
  eq(r.embeddings.length, 1);
  eq(r.embeddings[0].values.length > 0, true);
});
await check("openai image generation", async () => {
  const r = await oa.images.generate({ model: "gpt-image-1", prompt: "a red cube" });
  eq(r.data.length, 1);
  eq(Buffer.from(r.data[0].b64_json, "base64").subarray(1, 4).toString(), "PNG");
});
for (const size of [2048, 3 << 20]) {  // the larger goes upstream while it is sent (server.upload_buffer_size)
  await check(`openai transcription of a ${size}-byte file`, async () => {
    const name = `agd-sdk-${process.pid}-${size}.wav`;
    const file = path.join(os.tmpdir(), name);
    fs.writeFileSync(file, Buffer.alloc(size, 0x52));
    try {
      const t = await oa.audio.transcriptions.create({ file: fs.createReadStream(file), model: "whisper-1" });
      eq(t.text, `mock transcript of ${name} (${size} bytes)`);
    } finally {
      fs.unlinkSync(file);
    }
  });
}
await check("openai speech", async () => {
  const r = await oa.audio.speech.create({ model: "tts-1", voice: "alloy", input: "hello" });
  eq(Buffer.from(await r.arrayBuffer()).subarray(0, 3).toString(), "ID3");
});

console.log(`${failures === 0 ? "all" : failures} SDK check(s) ${failures === 0 ? "passed" : "failed"}`);
process.exit(failures);
