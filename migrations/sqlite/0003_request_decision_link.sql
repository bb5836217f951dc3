ALTER TABLE `requests` ADD `decision_seq` integer REFERENCES decisions(seq);--> statement-breakpoint
-- Requests decided before this migration stand on their own decision.
UPDATE `requests` SET `decision_seq` = (SELECT `seq` FROM `decisions` WHERE `decisions`.`request_id` = `requests`.`id`) WHERE `status` IN ('approved', 'rejected');
