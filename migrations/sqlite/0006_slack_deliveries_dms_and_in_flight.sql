CREATE TABLE `slack_deliveries` (
	`seq` integer PRIMARY KEY NOT NULL,
	`signature` text NOT NULL,
	`body_hash` text NOT NULL,
	`received_at` text NOT NULL,
	`expires_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `slack_deliveries_signature_idx` ON `slack_deliveries` (`signature`);--> statement-breakpoint
CREATE INDEX `slack_deliveries_body_hash_idx` ON `slack_deliveries` (`body_hash`);--> statement-breakpoint
CREATE INDEX `slack_deliveries_expires_idx` ON `slack_deliveries` (`expires_at`);--> statement-breakpoint
CREATE TABLE `slack_dms` (
	`seq` integer PRIMARY KEY NOT NULL,
	`request_id` text NOT NULL,
	`decision_id` text NOT NULL,
	`channel` text NOT NULL,
	`ts` text NOT NULL,
	`sent_at` text NOT NULL,
	FOREIGN KEY (`request_id`) REFERENCES `requests`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `slack_dms_request_decision_idx` ON `slack_dms` (`request_id`,`decision_id`);--> statement-breakpoint
CREATE INDEX `requests_requester_checking_idx` ON `requests` (`requested_by`) WHERE "requests"."status" = 'checking';