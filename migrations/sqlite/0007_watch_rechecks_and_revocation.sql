CREATE TABLE `watch_state` (
	`decision_seq` integer PRIMARY KEY NOT NULL,
	`due_at` text NOT NULL,
	`last_checked_at` text,
	`last_report_id` text,
	`changes` text,
	`notified_key` text,
	`expiry_announced_at` text,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`decision_seq`) REFERENCES `decisions`(`seq`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `watch_state_due_idx` ON `watch_state` (`due_at`);--> statement-breakpoint
ALTER TABLE `decisions` ADD `revoked_at` text;--> statement-breakpoint
ALTER TABLE `decisions` ADD `revoked_by` text;--> statement-breakpoint
ALTER TABLE `decisions` ADD `revoke_reason` text;