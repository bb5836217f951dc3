/**
 * Docker Hub's publisher facts for a repository: the badge (Docker Official Image, Docker Verified
 * Publisher, Docker-Sponsored Open Source), last update and pull count. Only for docker.io
 * references; everything else has no Hub.
 *
 * Hub's website API, as it answers today:
 * - `GET /api/search/v4?query=<ns>/<name>`: `{ total, results: [{ id, name, slug, badge,
 *   star_count, pull_count ("1B+"), raw_pull_count, updated_at, short_description, publisher,
 *   archived, ... }] }`. `badge` is `official`, `verified_publisher`, `open_source` or `none`; it
 *   replaced the `is_official` boolean of the older `/v2/search/repositories/` (whose rows,
 *   `repo_name`, `is_official`, `pull_count` as a number, are also understood). Official images
 *   are listed by their bare name (`nginx`).
 * - `GET /v2/repositories/<ns>/<name>/`: `{ namespace, name, description, star_count,
 *   pull_count, last_updated, status_description, ... }` with no badge: the fallback when search
 *   does not list the repository.
 *
 * Never throws for Hub's sake: an unreachable, slow, oversized or odd answer becomes
 * `HubFacts.error`, and the publisher check then says `unknown`.
 */
import { CodedError } from "../errors.js";
import type { HubFacts } from "../facts/model.js";
import type { ImageReference } from "../reference/types.js";

/** Looks up a repository's publisher facts. */
export interface PublisherLookup {
  lookup(ref: ImageReference, signal?: AbortSignal): Promise<HubFacts>;
}

/** A HubClient that cannot be built: its base URL is not a URL, or is plain http to a non-loopback host. */
export class HubError extends CodedError<"INVALID_URL" | "INSECURE_URL"> {}

/** Defaults, each with why. */
export const HUB_DEFAULTS = {
  /** Hub is a side look-up: it must not hold a check up for long. */
  timeoutMs: 5_000,
  /** Badges and pull counts change over weeks; an hour of caching spares Hub's rate limit. */
  ttlMs: 60 * 60 * 1000,
  /** A failure is remembered briefly, so a batch of checks does not wait out the same timeout each. */
  errorTtlMs: 60 * 1000,
  /** A search page of 25 results is ~50 KB; anything near this is not Hub. */
  maxBytes: 1024 * 1024,
  /** Results per search page: the exact repository is on the first when its full name is searched. */
  pageSize: 25,
  /** Entries kept in the cache. */
  maxEntries: 1000,
};

type HubCode =
  | "NAME_UNKNOWN"
  | "TOO_MANY_REQUESTS"
  | "DENIED"
  | "SERVER_ERROR"
  | "BAD_RESPONSE"
  | "TOO_LARGE"
  | "TIMEOUT"
  | "NETWORK"
  | "ABORTED";

class HubRequestError extends Error {
  constructor(
    readonly code: HubCode,
    message: string,
  ) {
    super(message);
  }
}

/** Docker Hub's API over fetch, with a timeout, a size cap and a TTL cache. */
export class HubClient implements PublisherLookup {
  private readonly base: URL;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly cache = new Map<string, { expires: number; value: Promise<HubFacts> }>();

  constructor(opts: {
    baseUrl: string;
    timeoutMs?: number;
    fetch?: typeof fetch;
    now?: () => number;
    ttlMs?: number;
  }) {
    let url: URL;
    try {
      url = new URL(opts.baseUrl.endsWith("/") ? opts.baseUrl : `${opts.baseUrl}/`);
    } catch {
      throw new HubError("INVALID_URL", `Docker Hub API URL "${opts.baseUrl}" is not a URL`);
    }
    if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(url.hostname))) {
      throw new HubError(
        "INSECURE_URL",
        `Docker Hub API URL "${opts.baseUrl}" must be https (plain http only to a loopback test server)`,
      );
    }
    this.base = url;
    this.timeoutMs = opts.timeoutMs ?? HUB_DEFAULTS.timeoutMs;
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.now = opts.now ?? Date.now;
    this.ttlMs = opts.ttlMs ?? HUB_DEFAULTS.ttlMs;
  }

  /** The repository's Hub facts; `{}` for a registry other than docker.io. */
  async lookup(ref: ImageReference, signal?: AbortSignal): Promise<HubFacts> {
    if (ref.registry !== "docker.io") return {};
    const key = ref.repository;
    const hit = this.cache.get(key);
    if (hit && hit.expires > this.now()) return hit.value;
    const value = this.fetchFacts(ref.repository, signal);
    const entry = { expires: this.now() + this.ttlMs, value };
    this.cache.delete(key);
    this.cache.set(key, entry);
    if (this.cache.size > HUB_DEFAULTS.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    const facts = await value;
    if (facts.error) {
      // Remember a failure only briefly, and an abort (the caller's choice) not at all.
      if (facts.error.code === "ABORTED") this.cache.delete(key);
      else entry.expires = Math.min(entry.expires, this.now() + HUB_DEFAULTS.errorTtlMs);
    }
    return facts;
  }

  private async fetchFacts(repository: string, signal?: AbortSignal): Promise<HubFacts> {
    const slash = repository.indexOf("/");
    const ns = slash === -1 ? "library" : repository.slice(0, slash);
    const name = slash === -1 ? repository : repository.slice(slash + 1);
    try {
      const query = ns === "library" ? name : `${ns}/${name}`;
      const search = await this.getJson(
        `api/search/v4?query=${encodeURIComponent(query)}&from=0&size=${HUB_DEFAULTS.pageSize}`,
        signal,
      );
      const row = findRow(search, ns, name);
      if (row) return factsFromSearch(row);
      const repo = await this.getJson(
        `v2/repositories/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/`,
        signal,
      );
      return factsFromRepository(repo);
    } catch (err) {
      if (err instanceof HubRequestError) return { error: { code: err.code, message: err.message } };
      return {
        error: {
          code: "BAD_RESPONSE",
          message: `Docker Hub answered something unexpected: ${(err as Error).message}`,
        },
      };
    }
  }

  private async getJson(path: string, signal?: AbortSignal): Promise<unknown> {
    const url = new URL(path, this.base);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await this.fetch(url, {
        headers: { accept: "application/json", "user-agent": "image-check" },
        redirect: "error",
        signal: combined,
      });
    } catch (err) {
      throw this.failure(err, signal, timeout, url);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new HubRequestError(
        statusCode(res.status),
        `Docker Hub answered ${res.status} for ${url.pathname}`,
      );
    }
    let text: string;
    try {
      text = await readCapped(res, HUB_DEFAULTS.maxBytes);
    } catch (err) {
      if (err instanceof HubRequestError) throw err;
      throw this.failure(err, signal, timeout, url);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new HubRequestError(
        "BAD_RESPONSE",
        `Docker Hub answered ${url.pathname} with something that is not JSON`,
      );
    }
  }

  private failure(
    err: unknown,
    signal: AbortSignal | undefined,
    timeout: AbortSignal,
    url: URL,
  ): HubRequestError {
    if (signal?.aborted) return new HubRequestError("ABORTED", "the Docker Hub look-up was cancelled");
    if (timeout.aborted)
      return new HubRequestError("TIMEOUT", `Docker Hub did not answer within ${this.timeoutMs} ms`);
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return new HubRequestError(
      "NETWORK",
      `Docker Hub could not be reached at ${url.host}${cause ? ` (${cause})` : ""}`,
    );
  }
}

function statusCode(status: number): HubCode {
  if (status === 404) return "NAME_UNKNOWN";
  if (status === 429) return "TOO_MANY_REQUESTS";
  if (status === 401 || status === 403) return "DENIED";
  if (status >= 500) return "SERVER_ERROR";
  return "BAD_RESPONSE";
}

/** The body as text, refusing more than `max` bytes (announced or actual) without reading it all. */
async function readCapped(res: Response, max: number): Promise<string> {
  const announced = Number(res.headers.get("content-length") ?? "NaN");
  if (announced > max) {
    await res.body?.cancel().catch(() => {});
    throw new HubRequestError(
      "TOO_LARGE",
      `Docker Hub's answer is ${announced} bytes, over the ${max}-byte cap`,
    );
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw new HubRequestError("TOO_LARGE", `Docker Hub's answer is over the ${max}-byte cap`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

type Row = Record<string, unknown>;

/** The search row for exactly this repository (official images are listed by their bare name). */
function findRow(body: unknown, ns: string, name: string): Row | null {
  const results = (body as { results?: unknown })?.results;
  if (!Array.isArray(results))
    throw new HubRequestError("BAD_RESPONSE", "Docker Hub's search answer has no results list");
  const wanted = new Set([`${ns}/${name}`.toLowerCase()]);
  if (ns === "library") wanted.add(name.toLowerCase());
  for (const r of results) {
    if (!r || typeof r !== "object") continue;
    const row = r as Row;
    const ids = [row.id, row.name, row.slug, row.repo_name].filter((x): x is string => typeof x === "string");
    if (ids.some((id) => wanted.has(id.toLowerCase()))) return row;
  }
  return null;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** HubFacts from a search row (v4, or the older v2 shape). */
function factsFromSearch(row: Row): HubFacts {
  const badge = str(row.badge);
  const facts: HubFacts = {};
  if (badge && badge !== "none") facts.badge = badge;
  const official = badge === "official" || row.is_official === true;
  if (official) facts.official = true;
  const lastUpdated = str(row.updated_at) ?? str(row.last_updated);
  if (lastUpdated) facts.lastUpdated = lastUpdated;
  const pulls = num(row.raw_pull_count) ?? num(row.pull_count);
  if (pulls !== undefined) facts.pullCount = pulls;
  const stars = num(row.star_count);
  if (stars !== undefined) facts.starCount = stars;
  const description = str(row.short_description) ?? str(row.description);
  if (description) facts.description = description;
  return facts;
}

/** HubFacts from `/v2/repositories/<ns>/<name>/` (no badge there). */
function factsFromRepository(body: unknown): HubFacts {
  if (!body || typeof body !== "object")
    throw new HubRequestError("BAD_RESPONSE", "Docker Hub's repository answer is not an object");
  const row = body as Row;
  const facts: HubFacts = {};
  const lastUpdated = str(row.last_updated);
  if (lastUpdated) facts.lastUpdated = lastUpdated;
  const pulls = num(row.pull_count);
  if (pulls !== undefined) facts.pullCount = pulls;
  const stars = num(row.star_count);
  if (stars !== undefined) facts.starCount = stars;
  const description = str(row.description);
  if (description) facts.description = description;
  return facts;
}

/** Loopback hosts: `localhost`, 127.0.0.0/8, `::1`. */
function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127(?:\.\d{1,3}){3}$/.test(h);
}
