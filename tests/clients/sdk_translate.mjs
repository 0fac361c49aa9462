// The official SDKs against the daemon translating to every upstream wire
// (see test_sdks.py): each SDK x each upstream type x streamed and not x
// plain text and a tool-call round trip, with the SDKs' own stream helpers
// doing the accumulation. Usage: node sdk_translate.mjs BASE_URL
// Every check prints one line; the exit status is the number of failures.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";

const base = process.argv[2];
const oa = new OpenAI({ apiKey: "client-key", baseURL: base + "/v1", maxRetries: 0 });
const an = new Anthropic({ apiKey: "client-key", baseURL: base, maxRetries: 0 });
const gg = new GoogleGenAI({ apiKey: "client-key", httpOptions: { baseUrl: base } });

// Upstream wire -> the credential its provider holds (the mock echoes it).
const UPSTREAMS = { chat: "kc", resp: "kr", anth: "ka", gem: "kg" };
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
function eq(got, want, what = "") {
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${what} got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
function ok(cond, what) {
  if (!cond) throw new Error(what);
}

const params = { type: "object", properties: { city: { type: "string", description: "City name" } }, required: ["city"] };
const RESULT = "21 degrees";
const hasResult = (s) => ok(/tool result:/.test(s) && s.includes(RESULT), `no tool result echoed in ${JSON.stringify(s)}`);

for (const [up, cred] of Object.entries(UPSTREAMS)) {
  const m = `sdk-${up}`;

  // ---------------------------------------------------------------- OpenAI Chat
  await check(`openai chat -> ${up}: text`, async () => {
    const c = await oa.chat.completions.create({ model: m, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hi" }] });
    eq(c.choices[0].message.content, text(cred, m, 3));
    eq(c.model, m, "model shown");
    eq(c.choices[0].finish_reason, "stop");
    ok(c.usage.prompt_tokens > 0 && c.usage.completion_tokens === 3, `usage ${JSON.stringify(c.usage)}`);
  });
  await check(`openai chat -> ${up}: stream helper text + usage`, async () => {
    let s = "";
    const st = oa.chat.completions.stream({ model: `${m}+chunks=5`, stream_options: { include_usage: true }, messages: [{ role: "user", content: "hi" }] });
    st.on("content", (d) => (s += d));
    const final = await st.finalChatCompletion();
    eq(s, text(cred, `${m}+chunks=5`, 5));
    eq(final.choices[0].message.content, s);
    eq(final.usage?.completion_tokens, 5, "usage");
  });
  for (const streamed of [false, true]) {
    await check(`openai chat -> ${up}: tool round trip${streamed ? " (stream helper)" : ""}`, async () => {
      const tools = [{ type: "function", function: { name: "get_weather", description: "Weather", parameters: params } }];
      const messages = [{ role: "user", content: "Weather in Paris?" }];
      const first = streamed
        ? await oa.chat.completions.stream({ model: `${m}+calls=2`, messages, tools }).finalChatCompletion()
        : await oa.chat.completions.create({ model: `${m}+calls=2`, messages, tools });
      const msg = first.choices[0].message;
      eq(first.choices[0].finish_reason, "tool_calls");
      eq(msg.tool_calls.length, 2, "parallel calls");
      for (const tc of msg.tool_calls) eq(JSON.parse(tc.function.arguments).city, "Paris");
      messages.push(msg);
      for (const tc of msg.tool_calls) messages.push({ role: "tool", tool_call_id: tc.id, content: RESULT });
      const second = await oa.chat.completions.create({ model: `${m}+calls=2`, messages, tools });
      hasResult(second.choices[0].message.content);
    });
  }

  // ---------------------------------------------------------------- OpenAI Responses
  await check(`openai responses -> ${up}: text`, async () => {
    const r = await oa.responses.create({ model: m, instructions: "Be brief.", input: "hi" });
    eq(r.output_text, text(cred, m, 3));
    ok(r.usage.output_tokens === 3, `usage ${JSON.stringify(r.usage)}`);
  });
  await check(`openai responses -> ${up}: stream helper`, async () => {
    let s = "";
    const st = oa.responses.stream({ model: `${m}+chunks=4`, input: "hi" });
    st.on("response.output_text.delta", (e) => (s += e.delta));
    const final = await st.finalResponse();
    eq(s, text(cred, `${m}+chunks=4`, 4));
    eq(final.output_text, s);
    eq(final.usage?.output_tokens, 4, "usage");
  });
  for (const streamed of [false, true]) {
    await check(`openai responses -> ${up}: tool round trip${streamed ? " (stream helper)" : ""}`, async () => {
      const tools = [{ type: "function", name: "get_weather", description: "Weather", parameters: params, strict: false }];
      const input = [{ role: "user", content: "Weather in Paris?" }];
      const first = streamed
        ? await oa.responses.stream({ model: `${m}+think`, input, tools }).finalResponse()
        : await oa.responses.create({ model: `${m}+think`, input, tools });
      const calls = first.output.filter((o) => o.type === "function_call");
      eq(calls.length, 1);
      eq(JSON.parse(calls[0].arguments).city, "Paris");
      ok(calls[0].id.startsWith("fc") && calls[0].call_id !== calls[0].id, `ids ${calls[0].id} ${calls[0].call_id}`);
      input.push(...first.output.filter((o) => o.type !== "message"));
      input.push({ type: "function_call_output", call_id: calls[0].call_id, output: RESULT });
      const second = await oa.responses.create({ model: `${m}+think`, input, tools });
      hasResult(second.output_text);
    });
  }

  // ---------------------------------------------------------------- Anthropic
  await check(`anthropic -> ${up}: text`, async () => {
    const r = await an.messages.create({ model: m, max_tokens: 64, system: "Be brief.", messages: [{ role: "user", content: "hi" }] });
    eq(r.content[0].text, text(cred, m, 3));
    eq(r.stop_reason, "end_turn");
    eq(r.model, m, "model shown");
    ok(r.usage.input_tokens > 0 && r.usage.output_tokens === 3, `usage ${JSON.stringify(r.usage)}`);
  });
  await check(`anthropic -> ${up}: stream helper`, async () => {
    let s = "";
    const st = an.messages.stream({ model: `${m}+chunks=4`, max_tokens: 64, messages: [{ role: "user", content: "hi" }] });
    st.on("text", (t) => (s += t));
    const final = await st.finalMessage();
    eq(s, text(cred, `${m}+chunks=4`, 4));
    eq(final.stop_reason, "end_turn");
    ok(final.usage.input_tokens > 0, "input_tokens must not be 0 (Claude Code relies on it)");
    eq(final.usage.output_tokens, 4, "usage");
  });
  for (const streamed of [false, true]) {
    await check(`anthropic -> ${up}: tool round trip with thinking${streamed ? " (stream helper)" : ""}`, async () => {
      const tools = [{ name: "get_weather", description: "Weather", input_schema: params }];
      const messages = [{ role: "user", content: "Weather in Paris?" }];
      const req = { model: `${m}+think`, max_tokens: 4096, messages, tools, thinking: { type: "enabled", budget_tokens: 1024 } };
      const first = streamed ? await an.messages.stream(req).finalMessage() : await an.messages.create(req);
      eq(first.stop_reason, "tool_use");
      const uses = first.content.filter((b) => b.type === "tool_use");
      eq(uses.length, 1);
      eq(uses[0].input.city, "Paris");
      ok(/^[a-zA-Z0-9_-]+$/.test(uses[0].id), `tool_use id ${uses[0].id}`);
      messages.push({ role: "assistant", content: first.content });
      messages.push({ role: "user", content: [{ type: "tool_result", tool_use_id: uses[0].id, content: RESULT }] });
      const second = await an.messages.create(req);
      hasResult(second.content.filter((b) => b.type === "text").map((b) => b.text).join(""));
    });
  }

  // ---------------------------------------------------------------- Gemini
  await check(`gemini -> ${up}: text`, async () => {
    const g = await gg.models.generateContent({ model: m, contents: "hi", config: { systemInstruction: "Be brief." } });
    eq(g.text, text(cred, m, 3));
    ok(g.usageMetadata.promptTokenCount > 0 && g.usageMetadata.candidatesTokenCount === 3, `usage ${JSON.stringify(g.usageMetadata)}`);
  });
  await check(`gemini -> ${up}: stream`, async () => {
    let s = "", last = null;
    for await (const ch of await gg.models.generateContentStream({ model: m, contents: "hi" })) {
      s += ch.text ?? "";
      last = ch;
    }
    eq(s, text(cred, m, 3));
    eq(last.candidates[0].finishReason, "STOP");
    eq(last.usageMetadata?.candidatesTokenCount, 3, "usage");
  });
  for (const streamed of [false, true]) {
    await check(`gemini -> ${up}: tool round trip${streamed ? " (stream)" : ""}`, async () => {
      const config = { tools: [{ functionDeclarations: [{ name: "get_weather", description: "Weather", parameters: { type: "OBJECT", properties: { city: { type: "STRING" } }, required: ["city"] } }] }] };
      const contents = [{ role: "user", parts: [{ text: "Weather in Paris?" }] }];
      let calls = [], modelContent = { role: "model", parts: [] };
      if (streamed) {
        for await (const ch of await gg.models.generateContentStream({ model: m, contents, config })) {
          calls.push(...(ch.functionCalls ?? []));
          modelContent.parts.push(...(ch.candidates?.[0]?.content?.parts ?? []).filter((p) => p.functionCall || p.thoughtSignature));
        }
      } else {
        const g = await gg.models.generateContent({ model: m, contents, config });
        calls = g.functionCalls ?? [];
        modelContent = g.candidates[0].content;
      }
      eq(calls.length, 1, "function calls");
      eq(calls[0].name, "get_weather");
      eq(calls[0].args.city, "Paris");
      contents.push(modelContent);
      contents.push({ role: "user", parts: [{ functionResponse: { name: "get_weather", response: { output: RESULT } } }] });
      const second = await gg.models.generateContent({ model: m, contents, config });
      hasResult(second.text);
    });
  }
}

// Legacy completions through a non-OpenAI upstream.
await check("openai completions -> anth", async () => {
  const c = await oa.completions.create({ model: "sdk-anth", prompt: "Once upon", max_tokens: 16 });
  eq(c.choices[0].text, text("ka", "sdk-anth", 3));
});

// Errors after the first byte reach the SDKs as errors.
const raises = async (fn, what) => {
  let err = null;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  ok(err && /mid-stream/.test(String(err.message) + JSON.stringify(err.error ?? "")), `${what}: ${err ? err.message : "no error raised"}`);
};
await check("openai chat <- anth mid-stream error raises", () =>
  raises(async () => { for await (const _ of await oa.chat.completions.create({ model: "sdk-anth+chunks=5+mid_error=2", stream: true, messages: [{ role: "user", content: "hi" }] })); }, "chat"));
await check("anthropic <- gem mid-stream error raises", () =>
  raises(() => an.messages.stream({ model: "sdk-gem+chunks=5+mid_error=2", max_tokens: 8, messages: [{ role: "user", content: "hi" }] }).finalMessage(), "anthropic"));
await check("openai responses <- chat mid-stream error raises", () =>
  raises(async () => { for await (const _ of await oa.responses.create({ model: "sdk-chat+chunks=5+mid_error=2", input: "hi", stream: true })); }, "responses"));
await check("openai: Anthropic 529 upstream is a 503 InternalServerError", async () => {
  let err = null;
  try {
    await oa.chat.completions.create({ model: "sdk-anth+status=529", messages: [{ role: "user", content: "hi" }] });
  } catch (e) {
    err = e;
  }
  ok(err instanceof OpenAI.InternalServerError && err.status === 503, `got ${err && err.status}`);
});

console.log(`${failures === 0 ? "all" : failures} SDK translation check(s) ${failures === 0 ? "passed" : "failed"}`);
process.exit(failures);
