/**
 * The Slack app's own bookkeeping in the store: the deliveries it took (so a replayed or retried
 * request is not handled twice), the decision DMs it sent (so a notify job run again does not DM
 * twice), and how many checks a user has in flight (for `limits.perUserInFlight`). Only reads and
 * writes, prepared once: every statement here runs on the ack path or in a Slack job. In the
 * database, not in memory, so the answers hold across restarts and for several processes sharing
 * the store.
 */
import { and, asc, eq, gt, lte, sql } from "drizzle-orm";
import { type Async, asyncify } from "./async.js";
import type { Db } from "./db.js";
import { requests, slackDeliveries, slackDms } from "./schema.js";

/** One signed delivery to the HTTP endpoint, as the dedupe sees it. */
export interface SlackDelivery {
  /** `X-Slack-Signature`. */
  signature: string;
  /** SHA-256 (hex) of the raw body. */
  bodyHash: string;
  /** Whether Slack marked it as a retry (`X-Slack-Retry-Num`). */
  retry: boolean;
}

/** Where a DM landed. */
export interface PostedMessage {
  channel: string;
  ts: string;
}

/** The statements, synchronous as SQLite runs them (callers use `SlackLedger`). */
export interface SyncSlackLedger {
  /**
   * Take `delivery`, remembered until `expiresAt`: true when it is new, false when it was taken
   * before (the same signature, or, for a retry, the same body) and has not expired. Atomic: of two
   * identical deliveries racing, one is taken. Also drops a few expired deliveries.
   */
  takeDelivery(delivery: SlackDelivery, now: Date, expiresAt: Date): boolean;
  /** The decision DM recorded for a request and decision, or null. */
  dmSent(requestId: string, decisionId: string): PostedMessage | null;
  /** Record that the decision DM was sent (a second record of the same one is ignored). */
  recordDm(requestId: string, decisionId: string, posted: PostedMessage, now: Date): void;
  /**
   * How many of `userId`'s requests have their check queued or running (status `checking`). Called
   * inside the transaction that then adds the user's request: until it ends, no other process
   * counts this user's checks (SQLite has one writer; PostgreSQL takes a per-user advisory lock), so
   * two replicas cannot both see room for the last one.
   */
  inFlightOf(userId: string): number;
}

/** The statements (see `SyncSlackLedger`), each returning a Promise; on SQLite here, on PostgreSQL in ./pg-slack.ts. */
export type SlackLedger = Async<SyncSlackLedger>;

/**
 * Expired deliveries dropped per take: at least one per new delivery keeps the table at about what
 * arrived within one lifetime, and the few rows a take deletes cost little on the ack path.
 */
export const PRUNE_PER_TAKE = 4;

/** The statements over an open database. */
export function openSlackLedger(db: Db): SlackLedger {
  const orm = db.orm;
  const ph = sql.placeholder;
  const stmt = {
    prune: db.sqlite.prepare(
      `DELETE FROM slack_deliveries WHERE seq IN
         (SELECT seq FROM slack_deliveries WHERE expires_at <= ? ORDER BY expires_at LIMIT ${PRUNE_PER_TAKE})`,
    ),
    bodySeen: orm
      .select({ seq: slackDeliveries.seq })
      .from(slackDeliveries)
      .where(and(eq(slackDeliveries.bodyHash, ph("bodyHash")), gt(slackDeliveries.expiresAt, ph("at"))))
      .limit(1)
      .prepare(),
    // A row with this signature that has expired is taken over; a live one makes this a no-op.
    insert: orm
      .insert(slackDeliveries)
      .values({
        signature: ph("signature"),
        bodyHash: ph("bodyHash"),
        receivedAt: ph("at"),
        expiresAt: ph("expiresAt"),
      })
      .onConflictDoUpdate({
        target: slackDeliveries.signature,
        set: {
          bodyHash: sql`excluded.body_hash`,
          receivedAt: sql`excluded.received_at`,
          expiresAt: sql`excluded.expires_at`,
        },
        setWhere: lte(slackDeliveries.expiresAt, sql`excluded.received_at`),
      })
      .prepare(),
    dmSent: orm
      .select({ channel: slackDms.channel, ts: slackDms.ts })
      .from(slackDms)
      .where(and(eq(slackDms.requestId, ph("requestId")), eq(slackDms.decisionId, ph("decisionId"))))
      .orderBy(asc(slackDms.seq))
      .limit(1)
      .prepare(),
    recordDm: orm
      .insert(slackDms)
      .values({
        requestId: ph("requestId"),
        decisionId: ph("decisionId"),
        channel: ph("channel"),
        ts: ph("ts"),
        sentAt: ph("at"),
      })
      .onConflictDoNothing({ target: [slackDms.requestId, slackDms.decisionId] })
      .prepare(),
    // The status is a literal, exactly as in the partial index's WHERE, so SQLite can use it.
    inFlight: orm
      .select({ n: sql<number>`count(*)` })
      .from(requests)
      .where(and(eq(requests.requestedBy, ph("userId")), sql`${requests.status} = 'checking'`))
      .prepare(),
  };

  // Built once: better-sqlite3 makes a new wrapper per `transaction()` call.
  const takeTx = db.sqlite.transaction((d: SlackDelivery, at: string, expiresAt: string): boolean => {
    stmt.prune.run(at);
    if (d.retry && stmt.bodySeen.get({ bodyHash: d.bodyHash, at })) return false;
    const res = stmt.insert.run({ signature: d.signature, bodyHash: d.bodyHash, at, expiresAt });
    return res.changes === 1;
  });

  const sync: SyncSlackLedger = {
    takeDelivery: (d, now, expiresAt) => takeTx.immediate(d, now.toISOString(), expiresAt.toISOString()),
    dmSent: (requestId, decisionId) => stmt.dmSent.get({ requestId, decisionId }) ?? null,
    recordDm(requestId, decisionId, posted, now) {
      stmt.recordDm.run({ requestId, decisionId, ...posted, at: now.toISOString() });
    },
    inFlightOf: (userId) => stmt.inFlight.get({ userId })?.n ?? 0,
  };
  return asyncify(db, sync);
}
