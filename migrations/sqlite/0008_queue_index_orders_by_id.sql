DROP INDEX `jobs_status_kind_available_idx`;--> statement-breakpoint
CREATE INDEX `jobs_status_kind_available_idx` ON `jobs` (`status`,`kind`,`available_at`,`id`);