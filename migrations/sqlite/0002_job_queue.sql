CREATE TABLE `jobs` (
	`id` integer PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`payload` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`max_attempts` integer NOT NULL,
	`available_at` text NOT NULL,
	`lease_owner` text,
	`lease_expires_at` text,
	`idempotency_key` text,
	`result` text,
	`last_error_code` text,
	`last_error_message` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`finished_at` text,
	CONSTRAINT "jobs_status_check" CHECK("jobs"."status" IN ('queued','running','done','failed'))
);
--> statement-breakpoint
CREATE INDEX `jobs_status_available_idx` ON `jobs` (`status`,`available_at`);--> statement-breakpoint
CREATE INDEX `jobs_status_lease_idx` ON `jobs` (`status`,`lease_expires_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `jobs_active_idempotency_key_idx` ON `jobs` (`idempotency_key`) WHERE "jobs"."status" IN ('queued','running');--> statement-breakpoint
ALTER TABLE `requests` ADD `job_id` integer;--> statement-breakpoint
CREATE INDEX `requests_job_idx` ON `requests` (`job_id`);