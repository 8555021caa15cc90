// Bundles io/web/src into one self-contained HTML file (script and styles
// inline, nothing fetched): dyn4d's built-in page, which the live viewer
// serves at / and the report writer fills with a run's data (report.html).
// Run by CMake at build time:
//   node build.mjs NODE_MODULES_DIR OUT.html
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import url from "node:url";

const [nodeModules, outFile] = process.argv.slice(2);
if (!nodeModules || !outFile) {
  console.error("usage: node build.mjs NODE_MODULES_DIR OUT.html");
  process.exit(2);
}
const here = path.dirname(url.fileURLToPath(import.meta.url));
const esbuild = createRequire(path.join(path.resolve(nodeModules), "_.js"))("esbuild");

const result = await esbuild.build({
  entryPoints: [path.join(here, "src/main.js")],
  bundle: true,
  minify: true,
  format: "iife",
  platform: "browser",
  target: "es2020",
  nodePaths: [path.resolve(nodeModules)],
  outdir: "bundle",
  write: false,
  legalComments: "none",
  logLevel: "warning",
});
const file = (ext) => result.outputFiles.find((f) => f.path.endsWith(ext))?.text ?? "";
// Inline: a "</script" or "</style" inside them would end the element early.
const js = file(".js").replace(/<\/script/gi, "<\\/script");
const css = file(".css").replace(/<\/style/gi, "<\\/style");
const template = fs.readFileSync(path.join(here, "src/index.html"), "utf8");
const html = template.replace("/*STYLE*/", () => css).replace("/*SCRIPT*/", () => js);
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(outFile + ".partial", html);
fs.renameSync(outFile + ".partial", outFile);
console.log(`web page: ${outFile} (${(html.length / 1024).toFixed(0)} KiB)`);
