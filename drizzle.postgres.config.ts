/**
 * drizzle-kit configuration of the PostgreSQL store: migrations are generated from
 * src/store/schema.pg.ts into migrations/postgres, named for what they do:
 * `npm run db:generate:postgres -- --name <what_it_does>`. SQLite's is drizzle.config.ts.
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/store/schema.pg.ts",
  out: "./migrations/postgres",
});
