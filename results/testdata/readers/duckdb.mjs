// Runs SQL with DuckDB (its Node API) in RUN_DIR and prints each query's
// column types and rows as JSON, for results/readers_test.go.
//
//   node duckdb.mjs RUN_DIR QUERY...
import { DuckDBInstance } from '@duckdb/node-api';

process.chdir(process.argv[2]);
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
const out = [];
for (const sql of process.argv.slice(3)) {
  const r = await conn.runAndReadAll(sql);
  out.push({ columns: r.columnNames(), types: r.columnTypes().map(String), rows: r.getRowObjectsJson() });
}
process.stdout.write(JSON.stringify(out));
