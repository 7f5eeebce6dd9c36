// Prints what a browser downloads on a first visit to the backoffice: each file of the built UI
// raw, and as the server sends it (the gzip and Brotli copies tools/precompress.mjs wrote).
//   node tools/sizes.mjs target/site
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";

const root = process.argv[2] ?? "target/site";
const files = ["pkg/app_bg.wasm", "pkg/app.js", "main.css"];
const size = (path) => (existsSync(path) ? statSync(path).size : NaN);
const kb = (n) => (n / 1000).toFixed(1).padStart(8) + " kB";
const total = { raw: 0, gz: 0, br: 0 };
console.log(`${"file".padEnd(18)}${"raw".padStart(11)}${"gzip".padStart(11)}${"brotli".padStart(11)}`);
for (const file of files) {
  const path = join(root, file);
  const [raw, gz, br] = [size(path), size(path + ".gz"), size(path + ".br")];
  if (Number.isNaN(raw)) {
    console.error(`missing: ${path} (build the UI first: trunk build --release)`);
    process.exit(1);
  }
  total.raw += raw;
  total.gz += gz;
  total.br += br;
  console.log(`${file.padEnd(18)}${kb(raw)}${kb(gz)}${kb(br)}`);
}
console.log(`${"total".padEnd(18)}${kb(total.raw)}${kb(total.gz)}${kb(total.br)}`);
