// Prints what a browser downloads on a first visit to the backoffice: the files every page loads
// (the main program, its script, the loader of the other parts; the CSS is inside each page, so
// it is printed apart), then each feature's part
// of the program (the files pkg/__wasm_split_manifest.json names for it) and what a first visit to
// one of that feature's pages downloads in all. Raw, and as the server sends them (the gzip and
// Brotli copies tools/precompress.mjs wrote).
//   node tools/sizes.mjs target/site
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, gzipSync } from "node:zlib";

const root = process.argv[2] ?? "target/site";
const main = ["pkg/app_bg.wasm", "pkg/app.js", "pkg/__wasm_split.______________________.js"];
const size = (path) => (existsSync(path) ? statSync(path).size : NaN);
const kb = (n) => (n / 1000).toFixed(1).padStart(8) + " kB";
const line = (name, s) => console.log(`${name.padEnd(30)}${kb(s.raw)}${kb(s.gz)}${kb(s.br)}`);
const sum = (files) => {
  const total = { raw: 0, gz: 0, br: 0 };
  for (const file of files) {
    const path = join(root, file);
    if (Number.isNaN(size(path))) {
      console.error(`missing: ${path} (build the UI first: trunk build --release)`);
      process.exit(1);
    }
    total.raw += size(path);
    total.gz += size(path + ".gz");
    total.br += size(path + ".br");
  }
  return total;
};

console.log(`${"every page loads".padEnd(30)}${"raw".padStart(11)}${"gzip".padStart(11)}${"brotli".padStart(11)}`);
for (const file of main) line(file.replace(/\.____+/, "…"), sum([file]));
const base = sum(main);
line("total", base);
const css = readFileSync(new URL("../style/main.css", import.meta.url));
line("CSS, inside every page", { raw: css.length, gz: gzipSync(css, { level: 9 }).length, br: brotliCompressSync(css).length });

const manifest = JSON.parse(readFileSync(join(root, "pkg/__wasm_split_manifest.json"), "utf8"));
console.log(`\n${"a feature's pages add".padEnd(30)}${"files".padStart(11)}${"brotli".padStart(11)}${"first visit".padStart(14)}`);
for (const [part, chunks] of Object.entries(manifest).sort()) {
  const files = chunks.map((c) => `pkg/${c}.wasm`);
  const s = sum(files);
  const name = part.replace(/_\d+$/, "");
  console.log(`${name.padEnd(30)}${String(files.length).padStart(11)}${kb(s.br)}${kb(base.br + s.br).padStart(14)}`);
}
