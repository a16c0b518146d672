import { defineConfig } from "drizzle-kit";

// drizzle-kit writes the SQL into migrations/; `wrangler d1 migrations apply` applies it.
export default defineConfig({
	dialect: "sqlite",
	schema: "./src/storage/schema.ts",
	out: "./migrations",
});
