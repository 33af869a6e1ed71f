// Reads memscope's Arrow IPC tables with Arrow JS, as the README shows, and
// prints each table's schema and rows as JSON (int64 as numbers, lists as
// arrays) for results/readers_test.go.
//
//   node arrow.mjs RUN_DIR
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC, compressionRegistry, CompressionType } from 'apache-arrow';
import { decompress } from 'fzstd';

// memscope's tables are zstd-compressed; Arrow JS needs a codec for that.
// slice(): Arrow JS wants the decompressed bytes at an aligned offset.
compressionRegistry.set(CompressionType.ZSTD, { decode: (bytes) => decompress(bytes).slice() });

const plain = (v) => {
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v.toArray === 'function') return Array.from(v.toArray(), plain);
  return v;
};

const out = {};
for (const table of ['metrics', 'docs', 'requests', 'comparisons']) {
  const t = tableFromIPC(readFileSync(join(process.argv[2], `${table}.arrow`)));
  out[table] = {
    fields: t.schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable })),
    metadata: Object.fromEntries(t.schema.metadata),
    rows: Array.from(t, (row) => Object.fromEntries(t.schema.fields.map((f) => [f.name, plain(row[f.name])]))),
  };
}
process.stdout.write(JSON.stringify(out));
