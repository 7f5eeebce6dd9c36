// Writes a Brotli (.br) and a gzip (.gz) copy beside each text or WASM file of the built UI, at
// the highest levels, so the server sends them as they are instead of compressing on every
// request. Run by Trunk after each build (Trunk.toml); Node's own zlib, nothing to install.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const root = process.argv[2];
if (!root) {
  console.error("usage: node precompress.mjs <folder>");
  process.exit(2);
}
const compressible = /\.(wasm|js|css|svg|html|json|txt|ico)$/;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (compressible.test(name)) yield path;
  }
}

for (const path of files(root)) {
  const raw = readFileSync(path);
  const br = brotliCompressSync(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  });
  const gz = gzipSync(raw, { level: 9 });
  writeFileSync(`${path}.br`, br);
  writeFileSync(`${path}.gz`, gz);
  console.log(`precompressed ${path}: ${raw.length} bytes, br ${br.length}, gzip ${gz.length}`);
}
