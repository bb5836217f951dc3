/**
 * The OSV API client (https://google.github.io/osv.dev/api/): which known vulnerabilities affect
 * an SBOM's packages. `POST /v1/querybatch` with at most 1000 queries per call, following each
 * query's `next_page_token`, then `GET /v1/vulns/{id}` for every id in parallel (and for the CVE
 * alias of a record that rates no severity itself). Requests go through the registry transport:
 * the same address guard, size caps, redirect checks and retry table (429, 5xx) as registries,
 * under the check's abort signal (its deadline). Records are cached across checks by id and
 * `modified`; batch answers by query for a short while.
 */
import { CodedError, oneLine } from "../errors.js";
import { AddressGuard, type Resolver } from "../registry/guard.js";
import { type Connector, type Response, StatsRecorder, Transport } from "../registry/transport.js";
import { arr, isObject, parseJson, str } from "../trust/parse.js";
import { cveAliases, type OsvHit } from "../vuln/osv.js";
import type { OsvQuery, SbomPackage } from "../vuln/sbom.js";

/** Why matching failed. */
export type OsvErrorCode = "BAD_RESPONSE" | "HTTP_ERROR" | "TOO_MANY_PAGES" | "NETWORK";

/** A failure of the OSV API; the SBOM source is then reported unmatched (vuln.no-data), never clean. */
export class OsvError extends CodedError<OsvErrorCode> {}

/** Caps and sizes, each with why. */
export const OSV_LIMITS = {
  /** The API's own limit on queries per querybatch call. */
  batchSize: 1000,
  /** A querybatch answer lists ids only: a thousand packages' worth stays far below this. */
  batchBytes: 8 * 1024 * 1024,
  /** One full record; the largest (kernel CVEs with many ranges) are a few hundred KiB. */
  recordBytes: 2 * 1024 * 1024,
  /** Pages followed per query; a package with more than ~10k hits is not a real package. */
  maxPageRounds: 10,
  /** Distinct records fetched per check. */
  maxRecords: 5000,
  /** Record fetches in flight at once (as the registry client's artifact fetches). */
  concurrency: 8,
  /** Batch answers are reused this long: OSV changes by the hour, a re-check within minutes need not ask again. */
  batchCacheMs: 10 * 60 * 1000,
  /** Entries each cache keeps (oldest dropped first). */
  cacheEntries: 50_000,
};

/** A small insertion-ordered cache with a bound on entries. */
class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
}

/** Options of the client. */
export interface OsvClientOptions {
  /** The API's base URL (policy `vulnerabilities.scanner.url`). */
  baseUrl: string;
  /** Hosts that may resolve to private addresses (the policy's `registries.allowPrivate`; tests list their loopback fake). */
  allowPrivate?: readonly string[];
  /** Hosts that may be reached over plain http (the policy's `registries.allowInsecure`). */
  allowInsecure?: readonly string[];
  connector?: Connector;
  resolver?: Resolver;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Queries per querybatch call; OSV_LIMITS.batchSize (the API's maximum) unless a test asks for fewer. */
  batchSize?: number;
}

/** What one match found, and what it cost. */
export interface OsvMatch {
  hits: OsvHit[][];
  records: Map<string, unknown>;
  requests: { querybatch: number; vulns: number };
}

function queryKey(q: OsvQuery): string {
  return JSON.stringify([q.package.ecosystem, q.package.name, q.version]);
}

/** The OSV client. One per process: its caches serve every check. */
export class OsvClient {
  private readonly transport: Transport;
  private readonly base: URL;
  private readonly now: () => number;
  private readonly batchSize: number;
  private readonly batches = new BoundedCache<{ at: number; hits: OsvHit[] }>(OSV_LIMITS.cacheEntries);
  private readonly records = new BoundedCache<unknown>(OSV_LIMITS.cacheEntries);

  constructor(options: OsvClientOptions) {
    this.base = new URL(options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`);
    this.now = options.now ?? Date.now;
    this.batchSize = Math.min(options.batchSize ?? OSV_LIMITS.batchSize, OSV_LIMITS.batchSize);
    this.transport = new Transport({
      guard: new AddressGuard({
        allowPrivate: options.allowPrivate ?? [],
        ...(options.resolver ? { resolver: options.resolver } : {}),
      }),
      allowInsecure: options.allowInsecure ?? [],
      ...(options.connector ? { connector: options.connector } : {}),
      ...(options.sleep ? { sleep: options.sleep } : {}),
      now: this.now,
    });
  }

  /** Close idle connections. */
  close(): void {
    this.transport.close();
  }

  /** The ids affecting each package, and their full records. Throws OsvError (or the transport's coded errors). */
  async match(packages: readonly SbomPackage[], signal?: AbortSignal): Promise<OsvMatch> {
    const ctx = { stats: new StatsRecorder(), ...(signal ? { signal } : {}) };
    const requests = { querybatch: 0, vulns: 0 };
    const hits = await this.findIds(packages, ctx, requests);
    const records = new Map<string, unknown>();
    const modified = new Map<string, string>();
    for (const h of hits.flat()) modified.set(h.id, h.modified ?? "");
    if (modified.size > OSV_LIMITS.maxRecords)
      throw new OsvError(
        "BAD_RESPONSE",
        `OSV named ${modified.size} vulnerabilities, more than ${OSV_LIMITS.maxRecords}`,
      );
    await this.fetchRecords([...modified], records, ctx, requests);
    // A record that rates no severity itself borrows its CVE alias's: one more parallel round, only for those.
    const aliases = new Map<string, string>();
    for (const [id, record] of records) {
      if (hasSeverity(record)) continue;
      for (const cve of cveAliases(record)) if (cve !== id && !records.has(cve)) aliases.set(cve, "");
    }
    if (aliases.size) await this.fetchRecords([...aliases], records, ctx, requests, true);
    return { hits, records, requests };
  }

  /** The querybatch rounds alone: the hits of each package (`requests` counts the calls). */
  async findIds(
    packages: readonly SbomPackage[],
    ctx: { stats: StatsRecorder; signal?: AbortSignal },
    requests: { querybatch: number },
  ): Promise<OsvHit[][]> {
    const hitsByKey = new Map<string, OsvHit[]>();
    const now = this.now();
    const wanted = [...new Map(packages.map((p) => [queryKey(p.query), p.query])).values()];
    let pending = wanted
      .filter((q) => {
        const cached = this.batches.get(queryKey(q));
        if (cached && now - cached.at < OSV_LIMITS.batchCacheMs) hitsByKey.set(queryKey(q), cached.hits);
        return !hitsByKey.has(queryKey(q));
      })
      .map((query) => ({ query, pageToken: undefined as string | undefined }));
    for (const p of pending) hitsByKey.set(queryKey(p.query), []);

    // Rounds: every batch of a round is sent in parallel; queries with a next_page_token go again.
    for (let round = 0; pending.length > 0; round++) {
      if (round >= OSV_LIMITS.maxPageRounds)
        throw new OsvError("TOO_MANY_PAGES", `OSV kept paging after ${round} rounds`);
      const chunks: (typeof pending)[] = [];
      for (let i = 0; i < pending.length; i += this.batchSize)
        chunks.push(pending.slice(i, i + this.batchSize));
      const answers = await Promise.all(
        chunks.map(async (chunk) => {
          requests.querybatch++;
          return { chunk, results: await this.querybatch(chunk, ctx) };
        }),
      );
      const next: typeof pending = [];
      for (const { chunk, results } of answers) {
        chunk.forEach((entry, i) => {
          const r = results[i]!;
          hitsByKey.get(queryKey(entry.query))!.push(...r.hits);
          if (r.nextPageToken) next.push({ query: entry.query, pageToken: r.nextPageToken });
        });
      }
      pending = next;
    }
    for (const q of wanted)
      this.batches.set(queryKey(q), { at: now, hits: hitsByKey.get(queryKey(q)) ?? [] });

    return packages.map((p) => hitsByKey.get(queryKey(p.query)) ?? []);
  }

  private async querybatch(
    chunk: readonly { query: OsvQuery; pageToken?: string }[],
    ctx: { stats: StatsRecorder; signal?: AbortSignal },
  ): Promise<{ hits: OsvHit[]; nextPageToken?: string }[]> {
    const body = JSON.stringify({
      queries: chunk.map((c) => ({ ...c.query, ...(c.pageToken ? { page_token: c.pageToken } : {}) })),
    });
    const response = await this.send(
      "POST",
      new URL("v1/querybatch", this.base),
      ctx,
      OSV_LIMITS.batchBytes,
      body,
    );
    const json = parseJson(response.body);
    const results = json.ok && isObject(json.value) ? json.value.results : undefined;
    if (!Array.isArray(results) || results.length !== chunk.length)
      throw new OsvError("BAD_RESPONSE", `OSV querybatch answer is not ${chunk.length} results`);
    return results.map((r) => {
      if (!isObject(r)) throw new OsvError("BAD_RESPONSE", "OSV querybatch result is not an object");
      const hits = arr(r, "vulns").map((v) => {
        const id = str(v, "id");
        if (!id || !/^[A-Za-z0-9._:-]{1,100}$/.test(id))
          throw new OsvError("BAD_RESPONSE", "OSV named a vulnerability without a usable id");
        const modified = str(v, "modified");
        return modified ? { id, modified } : { id };
      });
      const token = str(r, "next_page_token");
      return token ? { hits, nextPageToken: token.slice(0, 1024) } : { hits };
    });
  }

  private async fetchRecords(
    ids: [string, string][],
    into: Map<string, unknown>,
    ctx: { stats: StatsRecorder; signal?: AbortSignal },
    requests: { vulns: number },
    optional = false,
  ): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const [id, modified] = ids[next++]!;
        const key = `${id}\u0000${modified}`;
        const cached = this.records.get(key);
        if (cached !== undefined) {
          into.set(id, cached);
          continue;
        }
        requests.vulns++;
        const url = new URL(`v1/vulns/${encodeURIComponent(id)}`, this.base);
        let response: Response;
        try {
          response = await this.send("GET", url, ctx, OSV_LIMITS.recordBytes);
        } catch (err) {
          // An alias looked up only for its severity may be missing; the record itself may not.
          if (optional && err instanceof OsvError && err.code === "HTTP_ERROR") continue;
          throw err;
        }
        const json = parseJson(response.body);
        if (!json.ok || !isObject(json.value) || json.value.id !== id)
          throw new OsvError("BAD_RESPONSE", `OSV record ${id} is not a record of ${id}`);
        this.records.set(key, json.value);
        into.set(id, json.value);
      }
    };
    await Promise.all(Array.from({ length: Math.min(OSV_LIMITS.concurrency, ids.length) }, worker));
  }

  private async send(
    method: "GET" | "POST",
    url: URL,
    ctx: { stats: StatsRecorder; signal?: AbortSignal },
    maxBytes: number,
    body?: string,
  ): Promise<Response> {
    const response = await this.transport.send(
      {
        method,
        url,
        kind: "osv",
        maxBytes,
        headers: { accept: "application/json", ...(body ? { "content-type": "application/json" } : {}) },
        ...(body ? { body } : {}),
      },
      ctx,
    );
    if (response.status !== 200)
      throw new OsvError("HTTP_ERROR", `OSV ${method} ${url.pathname} answered ${response.status}`);
    return response;
  }
}

function hasSeverity(record: unknown): boolean {
  return arr(record, "severity").length > 0 || str(record, "database_specific", "severity") !== undefined;
}

/** One line for an error of matching, with its code. */
export function describeOsvError(err: unknown): { code: string; message: string } {
  if (err instanceof CodedError) return { code: err.code, message: oneLine(err) };
  return { code: "NETWORK", message: oneLine(err) };
}
