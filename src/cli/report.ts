// `llmforge report RUN`: writes RUN/report.html, one self-contained page a person opens in a browser
// (curves per stage, validation, data funnel, tokenizer, samples, configuration). A thin shell over report/runReport.ts.
import type { Command } from "commander";
import { writeRunReport } from "../report/runReport.js";

export function registerReportCommand(program: Command): void {
  program
    .command("report")
    .description("write RUN/report.html: loss / learning-rate / throughput curves of every stage, validation, data funnel, tokenizer, samples, configuration (no network needed to view it)")
    .argument("<run>", "run folder (e.g. runs/quickstart); every metrics.jsonl under it is a stage")
    .option("--out <file>", "where to write the page (default RUN/report.html)")
    .option("--json", "print what the report holds as JSON instead of a line")
    .action((run: string, o: { out?: string; json?: boolean }) => {
      const { path, report, bytes } = writeRunReport(run, o.out);
      if (o.json) console.log(JSON.stringify({ path, bytes, ...report }, null, 2));
      else console.log(`report: ${path} (${(bytes / 1024).toFixed(0)} KiB; ${report.stages.length} stage${report.stages.length === 1 ? "" : "s"}: ${report.stages.map((s) => s.kind).join(", ") || "none"})`);
    });
}
