// Drives Debian's Chromium (headless, WebGL through SwiftShader) with
// playwright-core over dyn4d's built-in page:
//   node browser.mjs live URL SHOTS_DIR QUESTION   a run's page while it runs
//   node browser.mjs report URL SHOTS_DIR          a run's report.html
// Checks that the 3D view and the 2D canvases are drawn (not blank), that the
// page follows the run, that a question gets the reasoner's answer, and saves
// screenshots. Prints "ok" or FAIL lines; exit 1 on failure.
import { chromium } from "playwright-core";
import { PNG } from "pngjs";
import fs from "node:fs";
import path from "node:path";

const [mode, url, shots, question] = process.argv.slice(2);
fs.mkdirSync(shots, { recursive: true });
const failures = [];
const check = (ok, what) => { console.log(`${ok ? "ok  " : "FAIL"} ${what}`); if (!ok) failures.push(what); };

// A canvas "shows something" when many of its pixels differ from its most
// common (background) colour and it has many colours: a cleared view, or one
// with only the grid, does not.
async function drawn(page, selector, name) {
  const png = PNG.sync.read(await page.locator(selector).first().screenshot({ path: path.join(shots, `${name}.png`) }));
  const counts = new Map();
  for (let i = 0; i < png.data.length; i += 4) {
    const key = (png.data[i] >> 3) << 10 | (png.data[i + 1] >> 3) << 5 | png.data[i + 2] >> 3;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const pixels = png.width * png.height;
  const background = Math.max(...counts.values());
  const share = 1 - background / pixels;
  console.log(`     ${name}: ${png.width}x${png.height}, ${(100 * share).toFixed(1)}% not background, ${counts.size} colours`);
  return share > 0.02 && counts.size > 40;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1500 } });
  page.on("pageerror", (e) => check(false, `no script error (${e.message})`));
  const external = [];
  page.on("request", (r) => { if (!/^(http:\/\/127\.0\.0\.1|ws:\/\/127\.0\.0\.1|data:|file:)/.test(r.url())) external.push(r.url()); });
  await page.goto(url, { waitUntil: "load", timeout: 30000 });

  if (mode === "live") {
    await page.waitForFunction(() => Number(document.getElementById("frame-count").textContent) >= 5, null, { timeout: 60000 });
    const first = Number(await page.textContent("#frame-count"));
    await page.waitForTimeout(2000);
    const later = Number(await page.textContent("#frame-count"));
    check(later > first, `the page follows the run (frames ${first} -> ${later})`);
    await page.waitForFunction(() => document.querySelectorAll("#stats tr").length > 2, null, { timeout: 30000 });
    check(true, `node stats arrive (${(await page.$$("#stats tr")).length - 1} nodes)`);
    // A frame drawn with its tracks' boxes, held with the page's pause.
    await page.waitForFunction(() => {
      if (!(Number(document.getElementById("frame").dataset.boxes) > 0)) return false;
      document.getElementById("pause").click();  // in the same task: nothing redraws between
      return true;
    }, null, { timeout: 30000 });
    const boxes = Number(await page.getAttribute("#frame", "data-boxes"));
    check(boxes > 0, `boxes drawn on the frame they belong to (${boxes})`);
    check(await drawn(page, "#frame", "live_frame"), "the frame with overlays is drawn");
    check(await drawn(page, "#scene canvas", "live_3d"), "the 3D view is drawn");
    check(await drawn(page, "#topdown", "live_topdown"), "the top-down view is drawn");
    await page.fill("#question", question);
    await page.click("#ask button");
    await page.waitForFunction((q) => [...document.querySelectorAll("#answers .answer")].some((a) => a.textContent.includes(q)), question, { timeout: 60000 });
    const answer = await page.textContent("#answers .answer");
    check(/\d/.test(answer) && !answer.includes("no answer"), `the question is answered: ${JSON.stringify(answer)}`);
    await page.waitForFunction(() => document.getElementById("cogmap").textContent.length > 20, null, { timeout: 30000 });
    check(true, "the cognitive map is shown");
    await page.screenshot({ path: path.join(shots, "live.png"), fullPage: true });
    await page.click("#pause");
    const resumed = Number(await page.textContent("#frame-count"));
    await page.waitForTimeout(1000);
    check(Number(await page.textContent("#frame-count")) >= resumed, "resumes");
  } else {
    const data = await page.evaluate(() => window.DYN4D_REPORT?.summary);
    check(!!data, "the report carries its data");
    const rows = (await page.$$("#timeline .timeline-row")).length;
    check(data && rows === data.objects && rows > 0, `one timeline row per object (${rows} of ${data?.objects})`);
    const thumbs = await page.$$eval("#thumbs img", (imgs) => imgs.filter((i) => i.complete && i.naturalWidth > 0).length);
    check(thumbs > 0, `thumbnails decode (${thumbs})`);
    check((await page.$$("#exits .exit-row")).length > 0, "early-exit histogram");
    check((await page.$$("#latency canvas")).length > 0, "latency plot");
    check((await page.$$("#stats tr")).length > 2, "node table");
    check((await page.textContent("#cogmap")).includes("Objects"), "cognitive map text");
    check((await page.$$("#answers .answer")).length > 0, "answers");
    check(await drawn(page, "#scene canvas", "report_3d"), "the 3D view is drawn");
    check(await drawn(page, "#topdown", "report_topdown"), "the top-down view is drawn");
    await page.screenshot({ path: path.join(shots, "report.png"), fullPage: true });
  }
  check(external.length === 0, `nothing fetched from the network (${external.slice(0, 3).join(", ")})`);
} finally {
  await browser.close();
}
console.log(failures.length ? `FAIL (${failures.length})` : "ok");
process.exit(failures.length ? 1 : 0);
