// Worker thread for the two parallel jobs of this layer: counting pre-tokens (training)
// and encoding document batches (sharding). Started by workerPool.ts; talks by messages.
import { parentPort } from "node:worker_threads";
import { compilePretokenizer, countPretokens } from "./pretokenize.js";
import { Tokenizer } from "./tokenizer.js";

export type WorkerRequest =
  | { kind: "count-init"; pattern: string }
  | { kind: "count"; seq: number; texts: string[] }
  | { kind: "count-finish" }
  | { kind: "encode-init"; tokenizerJson: string }
  | { kind: "encode"; seq: number; texts: string[]; eot: number[] };

export type WorkerReply =
  | { kind: "counted"; seq: number }
  | { kind: "counts"; counts: Map<string, number> }
  | { kind: "encoded"; seq: number; tokens: Int32Array; offsets: Int32Array }
  | { kind: "error"; message: string };

const port = parentPort;
if (port) {
  let re: RegExp | null = null;
  let counts = new Map<string, number>();
  let tok: Tokenizer | null = null;
  port.on("message", (msg: WorkerRequest) => {
    try {
      if (msg.kind === "count-init") {
        re = compilePretokenizer(msg.pattern);
        counts = new Map();
      } else if (msg.kind === "count") {
        for (const t of msg.texts) countPretokens(re as RegExp, t, counts);
        port.postMessage({ kind: "counted", seq: msg.seq } satisfies WorkerReply);
      } else if (msg.kind === "count-finish") {
        port.postMessage({ kind: "counts", counts } satisfies WorkerReply);
        counts = new Map();
      } else if (msg.kind === "encode-init") {
        tok = Tokenizer.fromHuggingFaceJson(msg.tokenizerJson, "tokenizer sent to worker");
      } else if (msg.kind === "encode") {
        const { tokens, offsets } = encodeDocuments(tok as Tokenizer, msg.texts, msg.eot);
        port.postMessage({ kind: "encoded", seq: msg.seq, tokens, offsets } satisfies WorkerReply, [tokens.buffer as ArrayBuffer, offsets.buffer as ArrayBuffer]);
      }
    } catch (err) {
      port.postMessage({ kind: "error", message: err instanceof Error ? err.message : String(err) } satisfies WorkerReply);
    }
  });
}

/**
 * Encodes a batch of documents into one flat array; `eot[i]` >= 0 is put before document i.
 * offsets[i]..offsets[i+1] are document i's tokens (eot included).
 */
export function encodeDocuments(tok: Tokenizer, texts: readonly string[], eot: readonly number[]): { tokens: Int32Array; offsets: Int32Array } {
  const out: number[] = [];
  const offsets = new Int32Array(texts.length + 1);
  for (let i = 0; i < texts.length; i++) {
    if (eot[i] >= 0) out.push(eot[i]);
    tok.encodeInto(texts[i], out);
    offsets[i + 1] = out.length;
  }
  return { tokens: Int32Array.from(out), offsets };
}
