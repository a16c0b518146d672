-- Trusted devices (TRUSTED_DEVICE_DAYS): each user's epoch, named by every
-- device cookie and bumped by every change that must end the user's trusted
-- devices. Only ADD COLUMN (a constant default, so NOT NULL is allowed): a
-- table rebuild would be a DROP TABLE on D1, which deletes the ON DELETE
-- CASCADE children of users (sessions, passkeys, TOTP, recovery codes).
ALTER TABLE `users` ADD `trusted_device_epoch` integer DEFAULT 0 NOT NULL;
