-- Replicas wake each other: a job that becomes queued (enqueued, or put back by a replica that
-- stopped or lost its lease) notifies the channel image_check_jobs with its kind, delivered when
-- its transaction commits, so a worker of another replica claims it at once instead of at its next
-- poll. PostgreSQL folds identical notifications of one transaction into one. SQLite has one bot
-- process and wakes its workers in memory. drizzle-kit does not model triggers, hence this
-- hand-written migration.
CREATE FUNCTION "jobs_notify_queued"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('image_check_jobs', NEW.kind);
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "jobs_notify_on_insert" AFTER INSERT ON "jobs"
	FOR EACH ROW EXECUTE FUNCTION "jobs_notify_queued"();
--> statement-breakpoint
CREATE TRIGGER "jobs_notify_on_requeue" AFTER UPDATE OF "status" ON "jobs"
	FOR EACH ROW WHEN (NEW.status = 'queued' AND OLD.status <> 'queued')
	EXECUTE FUNCTION "jobs_notify_queued"();
