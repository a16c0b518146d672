// Zod's classic build re-exports every locale (about 260 KiB minified), and
// @hono/zod-openapi passes the whole `z` namespace around, so the bundler
// cannot drop them. Our messages never reach a client (see
// routes/validation.ts), so the Worker keeps English only; wrangler.toml
// aliases zod's locale index to this file.
export { default as en } from "zod/v4/locales/en.js";
