// Prisma 7 with @prisma/adapter-pg through a pooler, concurrently: nested
// creates, includes, batch and interactive transactions. Usage:
// node prisma.js named|unnamed — named gives the adapter a
// statementNameGenerator, so every statement is a named prepared
// statement parsed once per connection. Env: DATABASE_URL. Prints
// "ok prisma-<mode> <summary>" or "FAIL prisma-<mode>: <message>".
"use strict";
const crypto = require("node:crypto");
const { PrismaPg } = require("@prisma/adapter-pg");
const { PrismaClient } = require("./generated/client");

const mode = process.argv[2];
const workers = 8;
const rounds = 6;

function expect(got, want, what) {
  if (String(got) !== String(want)) throw new Error(`${what}: got ${got}, want ${want}`);
}

async function main() {
  const opts = {};
  if (mode === "named") {
    opts.statementNameGenerator = (q) => "prisma_" + crypto.createHash("sha1").update(q.sql).digest("hex").slice(0, 16);
  } else if (mode !== "unnamed") {
    throw new Error(`unknown mode ${mode}; want named or unnamed`);
  }
  const adapter = new PrismaPg({ connectionString: process.env.DATABASE_URL, max: workers }, opts);
  const prisma = new PrismaClient({ adapter });
  let ops = 0;
  try {
    const tasks = [];
    for (let w = 0; w < workers; w++) {
      tasks.push((async () => {
        for (let r = 0; r < rounds; r++) {
          const email = `w${w}r${r}-${mode}@example.com`;
          // Nested create: a customer with two orders of two items each.
          const c = await prisma.customer.create({
            data: {
              name: `worker ${w}`, email,
              orders: { create: [
                { items: { create: [{ sku: "a", qty: 1 }, { sku: "b", qty: 2 }] } },
                { status: "paid", items: { create: [{ sku: "c", qty: 3 }, { sku: "d", qty: r }] } },
              ] },
            },
          });
          // Include: read it back with its orders and items.
          const got = await prisma.customer.findUnique({ where: { id: c.id }, include: { orders: { include: { items: true }, orderBy: { id: "asc" } } } });
          expect(got.email, email, "include email");
          expect(got.orders.length, 2, "include orders");
          expect(got.orders[1].items.map((i) => i.qty).sort().join(","), [3, r].sort().join(","), "include items");
          // Batch transaction.
          const [paid, items] = await prisma.$transaction([
            prisma.order.count({ where: { customerId: c.id, status: "paid" } }),
            prisma.lineItem.aggregate({ _sum: { qty: true }, where: { order: { customerId: c.id } } }),
          ]);
          expect(paid, 1, "batch count");
          expect(items._sum.qty, 6 + r, "batch sum");
          // Interactive transaction: read, update, read in one transaction.
          await prisma.$transaction(async (tx) => {
            const o = await tx.order.findFirst({ where: { customerId: c.id, status: "new" } });
            await tx.order.update({ where: { id: o.id }, data: { status: "shipped" } });
            const shipped = await tx.order.count({ where: { customerId: c.id, status: "shipped" } });
            expect(shipped, 1, "interactive count");
          });
          ops += 5;
        }
      })());
    }
    await Promise.all(tasks);
    const shipped = await prisma.order.count({ where: { status: "shipped", customer: { email: { endsWith: `-${mode}@example.com` } } } });
    expect(shipped, workers * rounds, "shipped orders");
  } finally {
    await prisma.$disconnect();
  }
  console.log(`ok prisma-${mode} ${ops}`);
}

main().catch((err) => {
  const code = err.code || (err.meta && err.meta.code) || (err.cause && err.cause.code) || "";
  const msg = String(err.message).replace(/\s+/g, " ").trim();
  // Prisma's message starts with a code frame; the database's words are enough.
  const db = /Database error\. Code: `(\w+)`\. Message: `([^`]+)`/.exec(msg);
  const text = db ? `${db[2]} (SQLSTATE ${db[1]})` : msg;
  console.log(`FAIL prisma-${mode}: ${text}${code ? ` (Prisma ${code})` : ""}`);
  process.exit(1);
});
