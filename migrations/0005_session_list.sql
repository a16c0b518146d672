-- Hand-edited after `npm run db:generate`. drizzle-kit wrote
-- `ADD public_id text NOT NULL`, which SQLite refuses (a NOT NULL column
-- needs a constant default, and a random one cannot be one). So the column is
-- added nullable, every row that exists gets a random public id below, and
-- the unique index comes after; the code writes one on every insert. Only
-- ADD COLUMN: a table rebuild would be a DROP TABLE on D1, which deletes the
-- ON DELETE CASCADE children of a parent table (sessions has none, but the
-- rule holds for every migration). Older rows have no client, device or
-- country (the list says "unknown"); their last use is the latest time the
-- row itself proves: the last authentication, or for a full session the last
-- slide of its 30-day expiry (expires_at - 30 days, never later than that
-- slide).
ALTER TABLE `sessions` ADD `public_id` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `client` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `device` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `country` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `last_used_at` integer;--> statement-breakpoint
UPDATE `sessions` SET `public_id` = lower(hex(randomblob(16))), `last_used_at` = CASE WHEN `level` = 'full' THEN max(`authenticated_at`, `expires_at` - 2592000000) ELSE `authenticated_at` END WHERE `public_id` IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `sessions_public_id` ON `sessions` (`public_id`);
