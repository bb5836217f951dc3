/**
 * Map an image config JSON (image-spec config.md; Docker's container image v1 is the same shape)
 * into the facts model. The JSON is untrusted: every field is type-checked and anything of the
 * wrong type is treated as absent rather than trusted or thrown on.
 */
import type { Healthcheck, HistoryEntry, ImageConfigFacts } from "../facts/model.js";

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const strings = (v: unknown): string[] | null =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : null;
const keys = (v: unknown): string[] =>
  v && typeof v === "object" && !Array.isArray(v) ? Object.keys(v) : [];
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!v || typeof v !== "object" || Array.isArray(v)) return out;
  for (const [k, value] of Object.entries(v)) if (typeof value === "string") out[k] = value;
  return out;
}

function healthcheck(v: unknown): Healthcheck | null {
  if (!v || typeof v !== "object") return null;
  const h = v as Record<string, unknown>;
  const test = strings(h.Test);
  if (!test || test.length === 0) return null;
  const out: Healthcheck = { test };
  const interval = num(h.Interval);
  const timeout = num(h.Timeout);
  const retries = num(h.Retries);
  const startPeriod = num(h.StartPeriod);
  if (interval !== undefined) out.intervalNs = interval;
  if (timeout !== undefined) out.timeoutNs = timeout;
  if (retries !== undefined) out.retries = retries;
  if (startPeriod !== undefined) out.startPeriodNs = startPeriod;
  return out;
}

/**
 * The runtime config facts from a config's `config` object (`Config` in `docker image inspect`,
 * same field names) plus the top-level fields (`created`, `author`, `os`, ...).
 */
export function configFacts(runtime: unknown, top: Record<string, unknown> = {}): ImageConfigFacts {
  const c = (runtime && typeof runtime === "object" ? runtime : {}) as Record<string, unknown>;
  const facts: ImageConfigFacts = {
    user: str(c.User) ?? "",
    env: strings(c.Env) ?? [],
    labels: stringRecord(c.Labels),
    exposedPorts: keys(c.ExposedPorts),
    volumes: keys(c.Volumes),
    healthcheck: healthcheck(c.Healthcheck),
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    workingDir: str(c.WorkingDir) ?? "",
  };
  const optional: [keyof ImageConfigFacts, unknown][] = [
    ["stopSignal", c.StopSignal],
    ["created", top.created],
    ["author", top.author],
    ["os", top.os],
    ["architecture", top.architecture],
    ["variant", top.variant],
  ];
  for (const [key, value] of optional)
    if (typeof value === "string" && value) (facts as unknown as Record<string, string>)[key] = value;
  return facts;
}

/** The build history from a config's `history` array. */
export function historyFacts(history: unknown): HistoryEntry[] {
  if (!Array.isArray(history)) return [];
  return history
    .filter((h): h is Record<string, unknown> => Boolean(h) && typeof h === "object")
    .map((h) => {
      const entry: HistoryEntry = { createdBy: str(h.created_by) ?? "", emptyLayer: h.empty_layer === true };
      const created = str(h.created);
      const comment = str(h.comment);
      const author = str(h.author);
      if (created) entry.created = created;
      if (comment) entry.comment = comment;
      if (author) entry.author = author;
      return entry;
    });
}
