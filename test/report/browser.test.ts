// `llmforge report` in a real browser: Debian's chromium driven by puppeteer-core (no browser is
// downloaded) opens the page of a fake run from disk, with no console errors and no network request;
// the uPlot charts hold the logged points, in light and dark mode. Screenshots of both stay in the
// test's temp folder (its path is printed) for a person to look at; the fake run beside them is removed.
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import puppeteer, { type Browser } from "puppeteer-core";
import { afterAll, describe, expect, it } from "vitest";
import { writeRunReport } from "../../src/report/runReport.js";
import { makeFakeRun, PRETRAIN_STEPS, pretrainLoss, pretrainLr, pretrainTps, SFT_LOSS, VAL_POINTS } from "./fakeRun.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const SKIP_REASON = "no chromium binary at /usr/bin/chromium (Debian: apt-get install -y --no-install-recommends chromium)";

/** What the page's uPlot instances hold: chart id -> [x, ...series] as drawn. */
type ChartData = Record<string, (number | null)[][]>;

describe("run report in chromium", () => {
  let browser: Browser | undefined;
  let run: string | undefined;
  afterAll(async () => {
    await browser?.close();
    if (run) rmSync(run, { recursive: true, force: true });
  });

  it.skipIf(!CHROMIUM)(`renders without console errors or network, charts hold the logged points, light and dark${CHROMIUM ? "" : ` (skipped: ${SKIP_REASON})`}`, async () => {
    const tmp = mkdtempSync(join(tmpdir(), "llmforge-report-browser-"));
    run = makeFakeRun(tmp);
    const { path, report } = writeRunReport(run);
    browser = await puppeteer.launch({
      executablePath: CHROMIUM, headless: true,
      // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"],
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warn") problems.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e instanceof Error ? e.message : String(e)}`));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(path).href, { waitUntil: "load" });
    await page.waitForSelector("body[data-rendered=true]", { timeout: 10_000 });

    const readCharts = (): Promise<ChartData> => page.evaluate(() => {
      const charts = (window as unknown as { llmforgeCharts: Record<string, { data: (number | null)[][] }> }).llmforgeCharts;
      return Object.fromEntries(Object.entries(charts).map(([id, u]) => [id, u.data.map((a) => Array.from(a))]));
    });
    const check = async (): Promise<void> => {
      const drawn = await readCharts();
      const specs = report.stages.flatMap((s) => s.charts);
      expect(Object.keys(drawn).sort()).toEqual(specs.map((c) => c.id).sort());
      const byTitle = (stage: number, title: string): (number | null)[][] => drawn[report.stages[stage].charts.find((c) => c.title === title)?.id ?? ""];
      expect(byTitle(0, "loss")).toEqual([[0, ...PRETRAIN_STEPS], [null, ...PRETRAIN_STEPS.map(pretrainLoss)], [VAL_POINTS[0][1], null, null, null, null, null, VAL_POINTS[1][1]]]);
      expect(byTitle(0, "learning rate")).toEqual([PRETRAIN_STEPS, PRETRAIN_STEPS.map(pretrainLr)]);
      expect(byTitle(0, "throughput")).toEqual([PRETRAIN_STEPS, PRETRAIN_STEPS.map(pretrainTps)]);
      expect(byTitle(1, "loss")[1]).toEqual([null, ...SFT_LOSS]);
      // Every chart has a drawn canvas of real size.
      const canvases = await page.$$eval(".plot canvas", (cs) => cs.map((c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]));
      expect(canvases).toHaveLength(specs.length);
      for (const [w, h] of canvases) expect(w * h).toBeGreaterThan(0);
    };

    await check();
    const light = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    const lightShot = join(tmp, "report-light.png");
    await page.screenshot({ path: lightShot, fullPage: true });

    await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
    await page.waitForFunction(() => getComputedStyle(document.documentElement).backgroundColor !== "rgb(255, 255, 255)", { timeout: 5000 });
    const dark = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    expect(light).toBe("rgb(255, 255, 255)");
    expect(dark).not.toBe(light);
    await check(); // redrawn for the new scheme with the same points
    const darkShot = join(tmp, "report-dark.png");
    await page.screenshot({ path: darkShot, fullPage: true });

    for (const shot of [lightShot, darkShot]) expect(statSync(shot).size).toBeGreaterThan(10_000);
    console.log(`report screenshots: ${lightShot} ${darkShot}`);
    expect(problems).toEqual([]);
    expect(requests.filter((u) => !u.startsWith("file:") && !u.startsWith("data:") && !u.startsWith("about:"))).toEqual([]);
    expect(await page.$eval("#data", (e) => e.textContent ?? "")).toContain("gopher_quality.min_words");
  }, 90_000);
});
