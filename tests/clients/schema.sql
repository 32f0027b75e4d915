-- Tables for the client harness (Prisma's schema.prisma, made with SQL
-- because prisma db push needs the native schema engine).
CREATE TABLE "Customer" (id serial PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE);
CREATE TABLE "Order" (id serial PRIMARY KEY, "customerId" int NOT NULL REFERENCES "Customer"(id), status text NOT NULL DEFAULT 'new');
CREATE TABLE "LineItem" (id serial PRIMARY KEY, "orderId" int NOT NULL REFERENCES "Order"(id), sku text NOT NULL, qty int NOT NULL);
CREATE TABLE copy_items (worker int, round int, i int, label text);
