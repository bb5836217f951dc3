/**
 * The Slack app's bookkeeping on PostgreSQL: the same deliveries, DMs and in-flight counts as the
 * SQLite statements in ./slack.ts, answering the same for every replica that shares the database.
 *
 * Taking a delivery reads before it writes (a retry is refused when its body was taken), which
 * SQLite's single writer makes atomic for free. Here two replicas could each read "not seen" and
 * both take it, so a take first holds a transaction-scoped advisory lock on the body's hash: takes
 * of the same body run one after the other, each reading what the one before committed, while
 * takes of other bodies do not wait. The insert itself is `ON CONFLICT (signature) DO UPDATE ...
 * WHERE expired`, so an identical delivery finds the live row and takes nothing.
 */
import { and, asc, count, eq, gt, lte, sql } from "drizzle-orm";
import type { PgScope } from "./pg-scope.js";
import { requests, slackDeliveries, slackDms } from "./schema.pg.js";
import { PRUNE_PER_TAKE, type SlackLedger } from "./slack.js";

/** The ledger over the PostgreSQL store whose transactions `scope` shares. */
export function openPgSlackLedger(scope: PgScope): SlackLedger {
  const { q, tx } = scope;

  return {
    async takeDelivery(d, now, expiresAt) {
      const at = now.toISOString();
      const until = expiresAt.toISOString();
      return await tx(async () => {
        // One round trip for two things, both done before the statements below: the lock on this
        // body (the prefix keeps the key apart from the store's per-digest locks, ./pg-store.ts),
        // and a few expired rows pruned (SKIP LOCKED: a row another take is pruning is left to it,
        // so prunes never wait on each other).
        await q().execute(sql`
          WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended(${`slack-body:${d.bodyHash}`}, 0))),
          pruned AS (
            DELETE FROM slack_deliveries WHERE seq IN
              (SELECT seq FROM slack_deliveries WHERE expires_at <= ${at}
               ORDER BY expires_at LIMIT ${PRUNE_PER_TAKE} FOR UPDATE SKIP LOCKED)
            RETURNING 1)
          SELECT (SELECT count(*) FROM locked) AS locked, (SELECT count(*) FROM pruned) AS pruned`);
        if (d.retry) {
          const [seen] = await q()
            .select({ seq: slackDeliveries.seq })
            .from(slackDeliveries)
            .where(and(eq(slackDeliveries.bodyHash, d.bodyHash), gt(slackDeliveries.expiresAt, at)))
            .limit(1);
          if (seen) return false;
        }
        // A row with this signature that has expired is taken over; a live one makes this a no-op.
        const taken = await q()
          .insert(slackDeliveries)
          .values({ signature: d.signature, bodyHash: d.bodyHash, receivedAt: at, expiresAt: until })
          .onConflictDoUpdate({
            target: slackDeliveries.signature,
            set: {
              bodyHash: sql`excluded.body_hash`,
              receivedAt: sql`excluded.received_at`,
              expiresAt: sql`excluded.expires_at`,
            },
            setWhere: lte(slackDeliveries.expiresAt, sql`excluded.received_at`),
          })
          .returning({ seq: slackDeliveries.seq });
        return taken.length === 1;
      });
    },

    async dmSent(requestId, decisionId) {
      const [row] = await q()
        .select({ channel: slackDms.channel, ts: slackDms.ts })
        .from(slackDms)
        .where(and(eq(slackDms.requestId, requestId), eq(slackDms.decisionId, decisionId)))
        .orderBy(asc(slackDms.seq))
        .limit(1);
      return row ?? null;
    },

    async recordDm(requestId, decisionId, posted, now) {
      await q()
        .insert(slackDms)
        .values({ requestId, decisionId, channel: posted.channel, ts: posted.ts, sentAt: now.toISOString() })
        .onConflictDoNothing({ target: [slackDms.requestId, slackDms.decisionId] });
    },

    async inFlightOf(userId) {
      // Inside the caller's transaction (the slash command's), the count and the request it then
      // adds are one step for this user across replicas: a second replica's count waits here until
      // the first committed, then sees its request.
      if (scope.inTransaction())
        await q().execute(
          sql`SELECT pg_advisory_xact_lock(hashtextextended(${`image-check:in-flight:${userId}`}, 0))`,
        );
      // The status is a literal, exactly as in the partial index's WHERE, so the planner can use it.
      const [row] = await q()
        .select({ n: count() })
        .from(requests)
        .where(and(eq(requests.requestedBy, userId), sql`${requests.status} = 'checking'`));
      return row?.n ?? 0;
    },
  };
}
