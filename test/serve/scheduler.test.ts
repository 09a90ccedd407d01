// The continuous-batching scheduler without threads or HTTP: requests join a running batch at token boundaries,
// wait in the queue when the batch is full, give their slots back when they finish or are cancelled, share one
// prefill among n choices, and produce the tokens `generate` produces for the same prompt and seed.
import { describe, expect, it } from "vitest";
import { generate } from "../../src/infer/generate.js";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import type { SequenceEvent, SequenceParams } from "../../src/serve/protocol.js";
import { BatchScheduler, type ScheduledRequest } from "../../src/serve/scheduler.js";
import { Rng } from "../../src/tensor/rng.js";

const V = 64;
const model = new GPT(makeConfig({ nLayer: 2, nHead: 2, nEmbd: 32, blockSize: 64, vocabSize: V, initStd: 0.2 }), { seed: 9 });
const decode = (t: number[]) => t.map((x) => String.fromCharCode(97 + (x % 26))).join("");
const make = (maxBatch: number) => new BatchScheduler(model, { maxBatch, vocabLimit: V, decode, tokenInfo: (id) => ({ token: decode([id]), bytes: [id] }) });
const params = (p: Partial<SequenceParams> = {}): SequenceParams & { maxTokens: number } => ({
  maxTokens: 12, temperature: 1, topP: 1, topK: 0, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, seed: 0, stop: [], logprobs: null, ignoreEos: false, ...p,
});
const req = (id: number, prompt: number[], p: Partial<SequenceParams> = {}, n = 1, stopTokens: number[] = []): ScheduledRequest => ({ id, prompt, n, params: params(p), stopTokens });

/** Steps until idle; tokens per (id, choice), finish reasons, and the batch size of each step. */
function drain(s: BatchScheduler, onStep?: (step: number) => void) {
  const tokens = new Map<string, number[]>();
  const finish = new Map<string, string>();
  const sizes: number[] = [];
  for (let step = 0; !s.idle; step++) {
    onStep?.(step);
    const evs: SequenceEvent[] = s.step();
    sizes.push(s.active);
    for (const e of evs) {
      if (e.kind === "token") tokens.set(`${e.id}.${e.choice}`, [...(tokens.get(`${e.id}.${e.choice}`) ?? []), e.token]);
      else if (e.kind === "finish") finish.set(`${e.id}.${e.choice}`, e.reason);
    }
  }
  return { tokens, finish, sizes };
}

describe("BatchScheduler", () => {
  it("generates what `generate` does for the same prompt and seed, alone and among others joining later", () => {
    const prompt = [1, 5, 9, 2];
    const want = generate(model, prompt, { temperature: 1, seed: 7, maxTokens: 12, rng: new Rng(7) }).tokens;
    const alone = make(4);
    alone.submit(req(1, prompt, { seed: 7 }));
    expect(drain(alone).tokens.get("1.0")).toEqual(want);
    // the same request, with three others that join at steps 0, 3 and 5 (continuous batching)
    const s = make(4);
    s.submit(req(10, [3, 3, 3], { seed: 1 }));
    s.submit(req(1, prompt, { seed: 7 }));
    const r = drain(s, (step) => {
      if (step === 3) s.submit(req(11, [4, 4], { seed: 2 }));
      if (step === 5) s.submit(req(12, [7, 8, 9, 10, 11], { seed: 3 }));
    });
    expect(r.tokens.get("1.0")).toEqual(want);
    expect(Math.max(...r.sizes)).toBe(4);
  });

  it("queues requests beyond the batch size and admits them as slots free up", () => {
    const s = make(2);
    for (let i = 0; i < 5; i++) s.submit(req(i, [1 + i, 2], { maxTokens: 4 + i }));
    expect(s.queued).toBe(5);
    const r = drain(s);
    expect(Math.max(...r.sizes)).toBe(2);
    for (let i = 0; i < 5; i++) expect(r.tokens.get(`${i}.0`)).toHaveLength(4 + i);
    expect(s.slotsInUse).toBe(0);
  });

  it("cancels running and queued requests at the next step and frees their slots", () => {
    const s = make(1);
    s.submit(req(1, [1, 2], { maxTokens: 30 }));
    s.submit(req(2, [3, 4], { maxTokens: 30 }));
    s.step();
    s.step();
    expect(s.slotsInUse).toBe(1);
    s.cancel(1);
    s.cancel(2);
    const evs = s.step();
    expect(evs.filter((e) => e.kind === "finish").map((e) => (e.kind === "finish" ? [e.id, e.reason, e.completionTokens] : null))).toEqual([
      [2, "abort", 0],
      [1, "abort", 2],
    ]);
    expect(s.idle).toBe(true);
    expect(s.slotsInUse).toBe(0);
  });

  it("shares one prefill among n choices, choice i sampling with seed + i", () => {
    const prompt = [2, 4, 6];
    const s = make(4);
    s.submit(req(1, prompt, { seed: 20 }, 3));
    const r = drain(s);
    for (let c = 0; c < 3; c++) expect(r.tokens.get(`1.${c}`)).toEqual(generate(model, prompt, { temperature: 1, maxTokens: 12, rng: new Rng(20 + c) }).tokens);
  });

  it("stops on stop tokens and stop strings, and applies presence/frequency penalties", () => {
    const prompt = [1, 2, 3];
    const greedy = generate(model, prompt, { temperature: 0, maxTokens: 12 }).tokens;
    const s = make(2);
    s.submit(req(1, prompt, { temperature: 0 }, 1, [greedy[3]]));
    s.submit(req(2, prompt, { temperature: 0, stop: [decode(greedy.slice(2, 4))] }));
    const r = drain(s);
    expect(r.tokens.get("1.0")).toEqual(greedy.slice(0, greedy.indexOf(greedy[3])));
    expect(r.finish.get("1.0")).toBe("stop");
    expect(r.finish.get("2.0")).toBe("stop");
    // a strong frequency penalty forbids repeats under greedy decoding
    const p = make(1);
    p.submit(req(3, prompt, { temperature: 0, frequencyPenalty: 2, presencePenalty: 2, maxTokens: 10 }));
    const toks = drain(p).tokens.get("3.0") ?? [];
    expect(toks).toHaveLength(10);
    if (new Set(greedy).size < greedy.length) expect(new Set(toks).size).toBeGreaterThan(new Set(greedy.slice(0, 10)).size);
  });

  it("reports log-probabilities that sum to 1 over the vocabulary", () => {
    const s = make(1);
    s.submit(req(1, [5, 6], { logprobs: 5, temperature: 0, maxTokens: 3 }));
    let steps = 0;
    while (!s.idle) {
      for (const e of s.step()) {
        if (e.kind !== "token") continue;
        steps++;
        expect(e.top).toHaveLength(5);
        expect(e.logprob?.logprob).toBeCloseTo(e.top?.[0].logprob ?? Number.NaN, 9);
        expect(e.top?.reduce((a, t) => a + Math.exp(t.logprob), 0)).toBeLessThanOrEqual(1 + 1e-9);
      }
    }
    expect(steps).toBe(3);
  });
});
