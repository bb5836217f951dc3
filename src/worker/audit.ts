/**
 * The audit of what runs (`image-check audit`, and `serve`'s scheduled audit): every container on
 * a Docker engine, the repo digest of its image, the standing decision on that digest here, and
 * for each container without a standing approval what it runs (`docker top`). The article's
 * advice ends with `docker top`: an approval is only worth something if what runs was approved.
 *
 * Wiring only: the engine answers through EngineSource, the decisions through the store's
 * `statusOf` (the one home of "which decision stands for this digest"); no Slack, no Bolt.
 */
import { z } from "zod";
import type { EngineContainer } from "../engine/index.js";
import { parseReference, repositoryPath } from "../reference/parse.js";
import type { DecisionRecord, StatusAnswer } from "../store/api.js";
import type { ExclusiveRound } from "./types.js";

/** The statuses a container's digest can have here (`null` in the JSON: never decided here). */
export type AuditStatus = "approved" | "rejected" | "expired" | "revoked" | "pending";

/** The decision column of one container (audit@1 `decision`). */
export interface AuditDecision {
  status: AuditStatus;
  /** Slack user id, `policy` or `watch`; null while pending. */
  decidedBy: string | null;
  /** When an approval stops counting; null for rejections and pending requests. */
  expiresAt: string | null;
}

/** One process row of `docker top`. */
export interface AuditProcess {
  user: string;
  pid: string;
  command: string;
}

/** One container of the audit (audit@1 `containers[]`). */
export interface AuditContainer {
  id: string;
  name: string;
  /** The image as the container was created from it. */
  image: string;
  /** The image's repo digest; null when it has none (built here, never pushed or pulled: never approved). */
  digest: string | null;
  state: string;
  decision: AuditDecision | null;
  /** Present for containers without a standing approval: what they run (empty when not running). */
  processes?: AuditProcess[];
}

/** The audit@1 document. */
export interface AuditReport {
  schema: "image-check/audit@1";
  /** The engine asked, as DOCKER_HOST names it. */
  engine: string;
  checkedAt: string;
  containers: AuditContainer[];
  /** Running containers whose digest has no standing approval. */
  unapproved: number;
}

/** The engine calls the audit makes (EngineSource has them). */
export interface AuditEngine {
  listContainers(options: { all?: boolean; signal?: AbortSignal }): Promise<EngineContainer[]>;
  processes(
    containerId: string,
    signal?: AbortSignal,
  ): Promise<{ titles: string[]; processes: string[][] } | null>;
}

/** The store query the audit makes (the Store has it); null when there is no store yet. */
export type AuditDecisions = {
  statusOf(repository: string, at: { digest: string }, now: Date): Promise<StatusAnswer>;
} | null;

/** What `auditEngine` needs. */
export interface AuditDeps {
  engine: AuditEngine;
  decisions: AuditDecisions;
  /** DOCKER_HOST as configured, for the report. */
  engineName: string;
  now: Date;
  /** List stopped containers too. */
  all?: boolean;
  signal?: AbortSignal;
}

/** Audit the engine: list, look up each digest's decision, and `top` what has no standing approval. */
export async function auditEngine(deps: AuditDeps): Promise<AuditReport> {
  const { engine, now, signal } = deps;
  const listed = await engine.listContainers({ all: deps.all ?? false, signal });
  const containers = await Promise.all(
    listed.map(async (c): Promise<AuditContainer> => {
      const { digest, decision } = await standingOf(c, deps.decisions, now);
      const row: AuditContainer = {
        id: c.id,
        name: c.name,
        image: c.image,
        digest,
        state: c.state,
        decision,
      };
      if (decision?.status !== "approved") {
        const top = c.state === "running" ? await engine.processes(c.id, signal) : null;
        row.processes = top ? processRows(top) : [];
      }
      return row;
    }),
  );
  return {
    schema: "image-check/audit@1",
    engine: deps.engineName,
    checkedAt: now.toISOString(),
    containers,
    unapproved: containers.filter((c) => c.state === "running" && c.decision?.status !== "approved").length,
  };
}

/**
 * The container's digest and the decision that stands for it. An image can carry several repo
 * digests (pushed to or pulled from several repositories): a standing approval under any of them
 * counts, and the digest shown is the one of the name the container was created from when it has
 * one. Precedence: an approval in force, then a rejection or revocation (they stand until someone
 * decides again), then a pending request, then an expired approval.
 */
export async function standingOf(
  c: EngineContainer,
  decisions: AuditDecisions,
  now: Date,
): Promise<{ digest: string | null; decision: AuditDecision | null }> {
  const candidates = repoDigestsOf(c.repoDigests);
  if (candidates.length === 0) return { digest: null, decision: null };
  const own = ownRepository(c.image);
  const shown = candidates.find((d) => d.repository === own) ?? candidates[0]!;
  if (!decisions) return { digest: shown.digest, decision: null };
  const answers: { d: { repository: string; digest: string }; answer: StatusAnswer }[] = [];
  for (const d of candidates)
    answers.push({ d, answer: await decisions.statusOf(d.repository, { digest: d.digest }, now) });
  const rank = (a: StatusAnswer): number => {
    const s = a.decision?.status;
    if (s === "approved") return 0;
    if (s === "rejected" || s === "revoked") return 1;
    if (a.request?.status === "pending") return 2;
    if (s === "expired") return 3;
    return 4;
  };
  const best = answers
    .map((x) => ({ ...x, rank: rank(x.answer) }))
    .sort((a, b) => a.rank - b.rank || Number(b.d === shown) - Number(a.d === shown))[0]!;
  const digest = best.rank < 4 ? best.d.digest : shown.digest;
  return { digest, decision: decisionOf(best.answer, best.rank) };
}

function decisionOf(answer: StatusAnswer, rank: number): AuditDecision | null {
  if (rank === 2) return { status: "pending", decidedBy: null, expiresAt: null };
  const d: DecisionRecord | null = answer.decision;
  if (!d || rank === 4) return null;
  return { status: d.status, decidedBy: d.decidedBy, expiresAt: d.expiresAt };
}

/** `registry/repo@sha256:...` entries as store keys; entries that do not parse are skipped. */
function repoDigestsOf(entries: readonly string[]): { repository: string; digest: string }[] {
  const out: { repository: string; digest: string }[] = [];
  for (const entry of entries) {
    try {
      const ref = parseReference(entry);
      if (ref.digest) out.push({ repository: repositoryPath(ref), digest: ref.digest });
    } catch {
      // An engine-compatible API may list names this parser refuses; they cannot be looked up.
    }
  }
  return out;
}

function ownRepository(image: string): string | undefined {
  try {
    return repositoryPath(parseReference(image));
  } catch {
    return undefined;
  }
}

/** `docker top` rows as user, pid and command, by the column titles ps gave (UID/USER, PID, CMD/COMMAND). */
export function processRows(top: { titles: string[]; processes: string[][] }): AuditProcess[] {
  const col = (...names: string[]) => top.titles.findIndex((t) => names.includes(t.toUpperCase()));
  const user = col("UID", "USER");
  const pid = col("PID");
  const cmd = col("CMD", "COMMAND", "ARGS");
  return top.processes.map((p) => ({
    user: user >= 0 ? (p[user] ?? "") : "",
    pid: pid >= 0 ? (p[pid] ?? "") : "",
    command: cmd >= 0 ? (p[cmd] ?? "") : p.join(" "),
  }));
}

/** The audit@1 document as a job payload (`serve`'s scheduled audit posts it): shared by producer and handler. */
export const auditReportSchema = z.object({
  schema: z.literal("image-check/audit@1"),
  engine: z.string(),
  checkedAt: z.string(),
  containers: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      image: z.string(),
      digest: z.string().nullable(),
      state: z.string(),
      decision: z
        .object({
          status: z.enum(["approved", "rejected", "expired", "revoked", "pending"]),
          decidedBy: z.string().nullable(),
          expiresAt: z.string().nullable(),
        })
        .nullable(),
      processes: z.array(z.object({ user: z.string(), pid: z.string(), command: z.string() })).optional(),
    }),
  ),
  unapproved: z.number().int().min(0),
});

/** What `startAuditSchedule` needs. */
export interface AuditScheduleDeps {
  /** One audit of the engine. */
  run: () => Promise<AuditReport>;
  /**
   * Hand a report with unapproved containers on (enqueue its post); only the unapproved ones are
   * passed. With `lastPosted`, a clean round after a posted one is handed on with none: a marker,
   * for which nothing is posted.
   */
  post: (report: AuditReport) => unknown;
  intervalMs: number;
  onError?: (err: unknown) => void;
  /** Runs each round so that one of several replicas does (`OpenedStore.schedulerRound`); by default every round runs. */
  exclusive?: ExclusiveRound;
  /**
   * The report handed on last, by any replica (the newest audit job in the store's queue, unless
   * it failed for good: then it was never posted, and the next round posts again); without it, the
   * last one this process posted.
   */
  lastPosted?: () => Promise<AuditReport | null>;
}

/** What makes two audit posts the same: the unapproved containers and their digests, in any order. */
export function auditPostKey(containers: readonly { id: string; digest: string | null }[]): string {
  return containers
    .map((c) => `${c.id}@${c.digest ?? ""}`)
    .sort()
    .join(",");
}

/** A running audit schedule. */
export interface AuditSchedule {
  /** One audit now; resolves true when it handed a report on. */
  tick(): Promise<boolean>;
  stop(): void;
}

/**
 * `serve`'s scheduled audit: audit every `intervalMs`; when unapproved containers run, post, but
 * only when their set (container and digest) differs from the last one posted, so an unchanged
 * host does not repeat itself every interval.
 */
export function startAuditSchedule(deps: AuditScheduleDeps): AuditSchedule {
  let lastPosted = "";
  let running = false;
  const exclusive: ExclusiveRound =
    deps.exclusive ?? (async (round) => ({ ran: true as const, value: await round() }));
  const round = async (): Promise<boolean> => {
    const report = await deps.run();
    const unapproved = report.containers.filter(
      (c) => c.state === "running" && c.decision?.status !== "approved",
    );
    const key = auditPostKey(unapproved);
    if (deps.lastPosted) {
      // Shared across replicas: the set last handed on by any of them. A clean round after a
      // posted set is handed on too, empty, as a marker (nothing is posted for it), so the same
      // set running again later is posted again.
      const last = await deps.lastPosted();
      if (key === (last ? auditPostKey(last.containers) : "")) return false;
      await deps.post({ ...report, containers: unapproved });
      return unapproved.length > 0;
    } else {
      // This process only: a clean audit in between resets it, so the same set is posted again.
      if (key === lastPosted) return false;
      lastPosted = key;
      if (unapproved.length === 0) return false;
    }
    await deps.post({ ...report, containers: unapproved });
    return true;
  };
  const tick = async (): Promise<boolean> => {
    if (running) return false;
    running = true;
    try {
      const out = await exclusive(round);
      return out.ran && out.value;
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => {
    tick().catch((err) => deps.onError?.(err));
  }, deps.intervalMs);
  timer.unref();
  return { tick, stop: () => clearInterval(timer) };
}
