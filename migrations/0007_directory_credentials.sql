CREATE TABLE `credentials` (
	`credential_id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `credentials_user_id` ON `credentials` (`user_id`);--> statement-breakpoint
ALTER TABLE `users` ADD `legacy` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Every user made so far keeps their security state in the legacy tables until
-- their object takes it over on first use (src/durable/legacy-import.ts).
UPDATE `users` SET `legacy` = 1;
--> statement-breakpoint
-- Every passkey's credential id, claimed for its user: a user made before this
-- migration keeps their passkeys, and no new passkey of another user can take
-- the same id meanwhile.
INSERT INTO `credentials` (`credential_id`, `user_id`, `created_at`) SELECT `credential_id`, `user_id`, `created_at` FROM `passkeys`;
