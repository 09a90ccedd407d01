// Shared by the knowledge-base tests: a small corpus of Markdown files about distinct topics, and a tiny model
// folder (tokenizer trained on the corpus, random GPT) to embed with.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeConfig } from "../../src/model/config.js";
import { GPT } from "../../src/model/gpt.js";
import { saveModel } from "../../src/model/serialize.js";
import { Tokenizer } from "../../src/tokenizer/index.js";

/** Topic -> paragraphs; each topic has its own words so that a query about one is answerable. */
export const TOPICS: Record<string, string[]> = {
  volcano: [
    "A volcano erupts when molten magma rises through the crust and escapes as lava, ash and gas.",
    "Basalt lava flows are runny and travel far, while rhyolite magma is sticky and explodes violently.",
    "Geologists watch seismic tremors and ground swelling to forecast an eruption days before it happens.",
  ],
  bread: [
    "Bread dough rises because yeast ferments sugar and releases carbon dioxide bubbles into the gluten.",
    "Kneading develops gluten strands, which trap the gas and give a loaf its chewy crumb.",
    "Bake the loaf in a hot oven until the crust browns and the bottom sounds hollow when tapped.",
  ],
  chess: [
    "In chess the bishop moves diagonally any number of squares and stays on squares of one colour.",
    "Castling moves the king two squares toward a rook, which then jumps to the other side of the king.",
    "A pawn reaching the last rank is promoted, usually to a queen, the strongest piece on the board.",
  ],
  orbit: [
    "A satellite stays in orbit because its sideways speed balances the pull of gravity toward the planet.",
    "Low orbits circle the Earth in about ninety minutes; geostationary ones take exactly one sidereal day.",
    "Rockets change orbit with short engine burns at perigee or apogee, known as Hohmann transfers.",
  ],
};

/** Writes DIR/docs/<topic>.md (a heading and its paragraphs) and returns the file paths. */
export function writeCorpus(dir: string): string[] {
  const docs = join(dir, "docs");
  mkdirSync(docs, { recursive: true });
  return Object.entries(TOPICS).map(([t, paras]) => {
    const f = join(docs, `${t}.md`);
    writeFileSync(f, `# About ${t}\n\n${paras.join("\n\n")}\n`);
    return f;
  });
}

/** A tiny model folder DIR/model (+ tokenizer.json) whose tokenizer was trained on the corpus. */
export function writeTinyModel(dir: string, seed = 3): { run: string; tok: Tokenizer } {
  const texts = Object.values(TOPICS).flat();
  const tok = Tokenizer.trainFromTexts(texts.map((t) => `${t}\n`.repeat(3)), { vocabSize: 400 });
  const run = join(dir, `run${seed}`);
  mkdirSync(join(run, "model"), { recursive: true });
  writeFileSync(join(run, "tokenizer.json"), tok.toHuggingFaceJson());
  saveModel(join(run, "model"), new GPT(makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 64, vocabSize: tok.vocabSize, initStd: 0.05 }), { seed }));
  return { run, tok };
}
