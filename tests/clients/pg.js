// node-postgres through a pooler, with concurrent load on a pool of
// client connections so that statements really move between server
// connections. Usage: node pg.js simple|unnamed|named|copy
// Env: DATABASE_URL. Prints "ok <mode> <summary>" and exits 0, or prints
// "FAIL <mode>: <message> (SQLSTATE <code>)" and exits 1.
"use strict";
const { Pool } = require("pg");
const { from: copyFrom, to: copyTo } = require("pg-copy-streams");
const { pipeline } = require("node:stream/promises");
const { Readable, Writable } = require("node:stream");

const mode = process.argv[2];
const workers = 8;
const rounds = 25;

async function each(pool, fn) {
  const tasks = [];
  for (let w = 0; w < workers; w++) {
    tasks.push((async () => {
      const client = await pool.connect();
      try {
        for (let r = 0; r < rounds; r++) await fn(client, w, r);
      } finally {
        client.release();
      }
    })());
  }
  await Promise.all(tasks);
}

function expect(got, want, what) {
  if (String(got) !== String(want)) throw new Error(`${what}: got ${got}, want ${want}`);
}

async function main() {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: workers });
  let n = 0;
  try {
    switch (mode) {
      case "simple": // no parameters: the simple query protocol
        await each(pool, async (c, w, r) => {
          const v = w * 1000 + r;
          const res = await c.query(`SELECT ${v}::int AS v, pg_sleep(0.002)`);
          expect(res.rows[0].v, v, "simple");
          n++;
        });
        break;
      case "unnamed": // parameters: Parse/Bind/Execute with the unnamed statement
        await each(pool, async (c, w, r) => {
          const v = w * 1000 + r;
          const res = await c.query("SELECT $1::int AS v, pg_sleep(0.002)", [v]);
          expect(res.rows[0].v, v, "unnamed");
          n++;
        });
        break;
      case "named": // name: a named statement parsed once per connection, then Bind only
        await each(pool, async (c, w, r) => {
          const v = w * 1000 + r;
          const res = await c.query({ name: "double_it", text: "SELECT $1::int * 2 AS v, pg_sleep(0.002)", values: [v] });
          expect(res.rows[0].v, 2 * v, "named");
          const res2 = await c.query({ name: "tag_it", text: "SELECT $1::text || '-' || $2::text AS t", values: [w, r] });
          expect(res2.rows[0].t, `${w}-${r}`, "named 2");
          n += 2;
        });
        break;
      case "copy": { // COPY FROM STDIN and COPY TO STDOUT, concurrently
        await each(pool, async (c, w, r) => {
          if (r >= 3) return;
          const rows = [];
          for (let i = 0; i < 500; i++) rows.push(`${w}\t${r}\t${i}\titem-${w}-${r}-${i}\n`);
          await pipeline(Readable.from(rows), c.query(copyFrom("COPY copy_items (worker, round, i, label) FROM STDIN")));
          let out = "";
          await pipeline(
            c.query(copyTo(`COPY (SELECT i FROM copy_items WHERE worker = ${w} AND round = ${r} ORDER BY i) TO STDOUT`)),
            new Writable({ write(chunk, _enc, cb) { out += chunk; cb(); } }),
          );
          const got = out.trim().split("\n");
          expect(got.length, 500, "copy out rows");
          expect(got[499], 499, "copy out last");
          n += 500;
        });
        const res = await pool.query("SELECT count(*)::int AS c FROM copy_items");
        expect(res.rows[0].c, workers * 3 * 500, "copied rows");
        break;
      }
      default:
        throw new Error(`unknown mode ${mode}; want simple, unnamed, named or copy`);
    }
  } finally {
    await pool.end();
  }
  console.log(`ok ${mode} ${n}`);
}

main().catch((err) => {
  console.log(`FAIL ${mode}: ${err.message}${err.code ? ` (SQLSTATE ${err.code})` : ""}`);
  process.exit(1);
});
