// Builds the web app into relay/static (or the folder given as the first argument):
// index.html, app.js and app.css. Deterministic: the same sources and lockfiles give
// the same bytes (no hashes, timestamps or absolute paths in the output), so a test
// can compare the committed bundle with a fresh build.
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, "..", "..", "relay", "static"));

await mkdir(out, { recursive: true });
const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: "src/main.js" },
  outdir: out,
  bundle: true,
  format: "esm",
  target: ["es2022"],
  minify: true,
  legalComments: "eof",
  charset: "utf8",
  logLevel: "warning",
  metafile: false,
});
if (result.errors.length) process.exit(1);
await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: "src/app.css" },
  outdir: out,
  bundle: true,
  minify: true,
  charset: "utf8",
  logLevel: "warning",
});
await copyFile(join(here, "index.html"), join(out, "index.html"));
