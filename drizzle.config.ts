/**
 * drizzle-kit configuration: migrations are generated from src/store/schema.ts into migrations/,
 * named for what they do: `npx drizzle-kit generate --name <what_it_does>`.
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/store/schema.ts",
  out: "./migrations",
});
