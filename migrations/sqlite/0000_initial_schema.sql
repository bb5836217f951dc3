CREATE TABLE `audit_log` (
	`seq` integer PRIMARY KEY NOT NULL,
	`at` text NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`request_id` text,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `audit_log_request_idx` ON `audit_log` (`request_id`,`seq`);--> statement-breakpoint
CREATE TABLE `decisions` (
	`seq` integer PRIMARY KEY NOT NULL,
	`request_id` text NOT NULL,
	`repository` text NOT NULL,
	`reference` text NOT NULL,
	`digest` text NOT NULL,
	`decision` text NOT NULL,
	`decided_by` text NOT NULL,
	`requested_by` text NOT NULL,
	`reason` text,
	`decided_at` text NOT NULL,
	`expires_at` text,
	FOREIGN KEY (`request_id`) REFERENCES `requests`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "decisions_decision_check" CHECK("decisions"."decision" IN ('approved','rejected'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `decisions_request_id_unique` ON `decisions` (`request_id`);--> statement-breakpoint
CREATE INDEX `decisions_repository_digest_decided_idx` ON `decisions` (`repository`,`digest`,`decided_at`);--> statement-breakpoint
CREATE INDEX `decisions_repository_decided_idx` ON `decisions` (`repository`,`decided_at`);--> statement-breakpoint
CREATE INDEX `decisions_decided_idx` ON `decisions` (`decided_at`);--> statement-breakpoint
CREATE INDEX `decisions_decision_decided_idx` ON `decisions` (`decision`,`decided_at`);--> statement-breakpoint
CREATE TABLE `reports` (
	`seq` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`digest` text,
	`policy_version` text NOT NULL,
	`repository` text NOT NULL,
	`reference` text NOT NULL,
	`verdict` text NOT NULL,
	`checked_at` text NOT NULL,
	`json` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `reports_id_unique` ON `reports` (`id`);--> statement-breakpoint
CREATE INDEX `reports_digest_policy_checked_idx` ON `reports` (`digest`,`policy_version`,`checked_at`);--> statement-breakpoint
CREATE TABLE `requests` (
	`seq` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`reference` text NOT NULL,
	`repository` text NOT NULL,
	`tag` text,
	`digest` text,
	`requested_by` text NOT NULL,
	`source` text NOT NULL,
	`channel` text,
	`reason` text,
	`status` text NOT NULL,
	`verdict` text,
	`report_id` text,
	`it_channel` text,
	`it_ts` text,
	`response_url` text,
	`error_code` text,
	`error_message` text,
	`expires_at` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`report_id`) REFERENCES `reports`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "requests_status_check" CHECK("requests"."status" IN ('checking','pending','approved','rejected','failed')),
	CONSTRAINT "requests_source_check" CHECK("requests"."source" IN ('slack','cli'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `requests_id_unique` ON `requests` (`id`);--> statement-breakpoint
CREATE INDEX `requests_status_created_idx` ON `requests` (`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `requests_repository_tag_created_idx` ON `requests` (`repository`,`tag`,`created_at`);--> statement-breakpoint
CREATE INDEX `requests_repository_digest_created_idx` ON `requests` (`repository`,`digest`,`created_at`);--> statement-breakpoint
CREATE TABLE `tag_observations` (
	`seq` integer PRIMARY KEY NOT NULL,
	`repository` text NOT NULL,
	`tag` text NOT NULL,
	`digest` text NOT NULL,
	`first_seen_at` text NOT NULL,
	`last_seen_at` text NOT NULL,
	`times` integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tag_observations_repository_tag_digest_idx` ON `tag_observations` (`repository`,`tag`,`digest`);--> statement-breakpoint
CREATE INDEX `tag_observations_repository_tag_seen_idx` ON `tag_observations` (`repository`,`tag`,`last_seen_at`);