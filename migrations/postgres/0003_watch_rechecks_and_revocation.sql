CREATE TABLE "watch_state" (
	"decision_seq" bigint PRIMARY KEY NOT NULL,
	"due_at" text NOT NULL,
	"last_checked_at" text,
	"last_report_id" text,
	"changes" text,
	"notified_key" text,
	"expiry_announced_at" text,
	"updated_at" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "decisions" ADD COLUMN "revoked_at" text;--> statement-breakpoint
ALTER TABLE "decisions" ADD COLUMN "revoked_by" text;--> statement-breakpoint
ALTER TABLE "decisions" ADD COLUMN "revoke_reason" text;--> statement-breakpoint
ALTER TABLE "watch_state" ADD CONSTRAINT "watch_state_decision_seq_decisions_seq_fk" FOREIGN KEY ("decision_seq") REFERENCES "public"."decisions"("seq") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "watch_state_due_idx" ON "watch_state" USING btree ("due_at");