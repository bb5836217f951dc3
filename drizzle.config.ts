/**
 * drizzle-kit configuration of the SQLite store: migrations are generated from src/store/schema.ts
 * into migrations/sqlite, named for what they do: `npm run db:generate -- --name <what_it_does>`.
 * PostgreSQL has its own: drizzle.postgres.config.ts (`npm run db:generate:postgres`).
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/store/schema.ts",
  out: "./migrations/sqlite",
});
