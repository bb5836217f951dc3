-- The audit log is append-only: the database itself refuses to change or remove an entry, so no
-- code path (or hand-run SQL) can quietly rewrite history. drizzle-kit does not model triggers,
-- hence this hand-written migration.
CREATE TRIGGER `audit_log_no_update` BEFORE UPDATE ON `audit_log`
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
--> statement-breakpoint
CREATE TRIGGER `audit_log_no_delete` BEFORE DELETE ON `audit_log`
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
