/**
 * HTTP for the registry client, on node:http/node:https rather than fetch because the address
 * guard needs to pin the socket's address (`lookup`) and every byte needs counting and capping.
 *
 * One place enforces the distrust rules of STYLE.md convention 4 that are about the wire:
 * - the address of every hop is checked by the guard before a socket is opened;
 * - plain http only to hosts the policy lists in `allowInsecure`;
 * - redirects: at most 5 hops, scheme and address checked again; a hop that leaves the origin the
 *   request was meant for carries no credential and no body (only the Accept header survives), and
 *   a request with a body (a token POST) is never redirected to another origin at all;
 * - the request log keeps origin and path, never a query string (signed CDN URLs carry their
 *   signature there);
 * - sizes capped before reading (Content-Length) and while streaming;
 * - retries only as `retry.ts` says, honouring Retry-After.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import type { GatherStats } from "../facts/model.js";
import { errorForResponse, POLICY_HINT, parseErrorBody, RegistryError, type ResourceKind } from "./errors.js";
import { type AddressGuard, HostList, type ResolvedAddress } from "./guard.js";
import { backoffMs, isRetryableNetworkError, isRetryableStatus, parseRetryAfter, RETRY } from "./retry.js";

/** Size caps and timeouts, each with why. */
export const LIMITS = {
  /** The distribution spec lets registries refuse manifests over 4 MiB; nothing real is bigger. */
  manifestBytes: 4 * 1024 * 1024,
  /** Configs with long histories reach a few hundred KiB; 8 MiB leaves room without inviting abuse. */
  configBytes: 8 * 1024 * 1024,
  /** One signature payload, bundle or in-toto statement (SBOMs can be large). */
  artifactBytes: 8 * 1024 * 1024,
  /**
   * Everything one gather fetches for signatures and attestations together (artifact manifests and
   * blobs, by declared size, taken before each request): a signature, provenance and a couple of
   * large SBOMs fit; an index or referrers list naming thousands of artifacts cannot make us read,
   * and keep as base64 in the facts, gigabytes. Past it the look-up is recorded incomplete.
   */
  artifactBudgetBytes: 32 * 1024 * 1024,
  /**
   * Artifact manifests and blobs one gather fetches: a well-signed multi-platform image needs about
   * 30; this bounds the request count where the byte budget cannot (thousands of tiny blobs).
   */
  artifactRequests: 128,
  /** Artifact fetches in flight at once: a browser's connections per host, so no index opens hundreds of sockets. */
  artifactConcurrency: 6,
  /** Enough for any registry error body; more is noise. */
  errorBodyBytes: 4 * 1024,
  /** A token response is a JWT or two; 64 KiB is generous. */
  tokenBytes: 64 * 1024,
  /**
   * A tag list page. We ask for 1,000 tags a page (`n=1000`); 1,000 of the longest legal tag (128
   * characters) are ~135 KiB. 4 MiB leaves room for registries that ignore `n` and send every tag
   * in one page (GCR-style, with a manifest map), so their first 10,000 tags can still be shown.
   */
  tagsBytes: 4 * 1024 * 1024,
  /**
   * Tags listed in all (`inspect --tags`): ten pages of 1,000, far more than a person reads; past
   * it the list is cut and says so (`registryInfo.tagsTruncated`) rather than growing without end.
   */
  tagsTotal: 10_000,
  /** Tag list pages followed: the 10,000 tags at 1,000 a page, with room for registries that page smaller. */
  tagPages: 20,
  /** Redirect hops followed, as browsers and Go's net/http cap them (Go uses 10; registries need 1-2). */
  maxRedirects: 5,
  /** One round trip, connect to last byte. Registries answer in well under a second; 20 s covers a slow CDN. */
  timeoutMs: 20_000,
} as const;

/** A function that opens one HTTP request. Injectable so tests can prove a refused address was never contacted. */
export type Connector = (url: URL, options: http.RequestOptions) => http.ClientRequest;

/** One request, as the client describes it. */
export interface RequestSpec {
  method: "GET" | "HEAD" | "POST";
  url: URL;
  /** What is fetched: counted as `<METHOD> <kind>` in the stats, and used to name a bare 404. */
  kind: ResourceKind;
  headers?: Record<string, string>;
  /** Request body (a token POST form). */
  body?: string;
  /** Cap on a successful body; an error body is always capped at LIMITS.errorBodyBytes. */
  maxBytes: number;
  /** Let this request reach a private address although the host is not listed (a realm on an allowed registry's host). */
  alsoAllowPrivate?: boolean;
  /** Let this request use plain http although the host is not listed. */
  alsoAllowInsecure?: boolean;
}

/** A response, its body read (and capped). Error statuses are returned, not thrown, so auth can answer 401s. */
export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: URL;
}

/** Counts requests and bytes of one gather. */
export class StatsRecorder {
  requests = 0;
  bytes = 0;
  readonly byKind: Record<string, number> = {};
  /**
   * Every request, in order: `METHOD origin/path` (for tests and --debug). Never the query string
   * or user info: a blob redirect's signed storage URL is a bearer credential for that blob, and
   * a log line ends up in reports and bug trackers.
   */
  readonly log: string[] = [];

  /** Count one round trip. */
  request(method: string, kind: string, url: URL): void {
    this.requests++;
    const key = `${method} ${kind}`;
    this.byKind[key] = (this.byKind[key] ?? 0) + 1;
    this.log.push(`${method} ${url.origin}${url.pathname}`);
  }

  /** The stats as the facts model holds them. */
  snapshot(durationMs: number): GatherStats {
    return { requests: this.requests, bytes: this.bytes, durationMs, byKind: { ...this.byKind } };
  }
}

/** What one request runs under: the gather's stats, abort signal and deadline. */
export interface RequestContext {
  stats: StatsRecorder;
  signal?: AbortSignal;
  /**
   * When the whole gather must be over, on the transport's `now` clock (policy
   * `limits.checkSeconds`). A request still running then fails with DEADLINE, and a retry whose
   * wait would end past it is not attempted.
   */
  deadline?: number;
}

/** Options of the transport. */
export interface TransportOptions {
  guard: AddressGuard;
  /** Hosts (`host[:port]`) that may be reached over plain http (the policy's `registries.allowInsecure`). */
  allowInsecure?: readonly string[];
  timeoutMs?: number;
  userAgent?: string;
  connector?: Connector;
  /** Waits between retries; injectable so tests do not wait. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Wall clock, for HTTP-date Retry-After values. */
  now?: () => number;
}

/** The default User-Agent: registries log it, so say who we are. */
export const DEFAULT_USER_AGENT = "image-check/0.1 (+https://github.com/image-check)";

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Socket errors of an https request whose answer was not TLS at all: OpenSSL's "wrong version
 * number" when the server answered in plain http (Node reports it as EPROTO). Named rather than
 * left as a bare NETWORK error, since the usual cause is a local registry without TLS.
 */
const TLS_GARBLED = new Set(["EPROTO", "ERR_SSL_WRONG_VERSION_NUMBER"]);

/**
 * The only request headers that cross to another origin on a redirect. An allowlist rather than a
 * list of credential headers to drop, so a header added later (a cookie, a registry-specific
 * token) cannot leak by being forgotten here.
 */
const CROSS_ORIGIN_HEADERS = new Set(["accept"]);

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** HTTP with the guard, caps, redirects, retries and keep-alive connections. */
export class Transport {
  private readonly guard: AddressGuard;
  private readonly insecure: HostList;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly connector: Connector;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };

  constructor(options: TransportOptions) {
    this.guard = options.guard;
    this.insecure = new HostList(options.allowInsecure ?? []);
    this.timeoutMs = options.timeoutMs ?? LIMITS.timeoutMs;
    this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.connector =
      options.connector ??
      ((url, opts) => (url.protocol === "https:" ? https.request(url, opts) : http.request(url, opts)));
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /** Whether plain http may be used for this URL's host. */
  allowsInsecure(url: URL): boolean {
    return this.insecure.includes(url);
  }

  /** Whether the guard lets this URL's host reach private addresses. */
  allowsPrivate(url: URL): boolean {
    return this.guard.allowsPrivate(url);
  }

  /** Close idle keep-alive connections. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** Send a request, retrying as `retry.ts` says. Returns any HTTP answer; throws for transport failures. */
  async send(spec: RequestSpec, ctx: RequestContext): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      this.checkDeadline(spec, ctx);
      const last = attempt + 1 >= RETRY.maxAttempts;
      let response: Response;
      try {
        response = await this.followRedirects(spec, ctx);
      } catch (err) {
        const code = (err as { cause?: { code?: string } }).cause?.code;
        if (
          last ||
          !(err instanceof RegistryError) ||
          err.code !== "NETWORK" ||
          !isRetryableNetworkError(code)
        )
          throw err;
        await this.wait(backoffMs(attempt, this.random), spec, ctx);
        continue;
      }
      if (response.status < 400 || last) return response;
      const codes = (parseErrorBody(response.body) ?? []).map((e) => e.code);
      if (!isRetryableStatus(response.status, codes)) return response;
      const retryAfter = parseRetryAfter(headerText(response.headers["retry-after"]), this.now());
      if (retryAfter !== undefined && retryAfter > RETRY.maxRetryAfterMs) return response;
      await this.wait(retryAfter ?? backoffMs(attempt, this.random), spec, ctx);
    }
  }

  /** Like `send`, but an error status becomes a RegistryError naming `what`. */
  async expectOk(spec: RequestSpec, ctx: RequestContext, what: string): Promise<Response> {
    const response = await this.send(spec, ctx);
    if (response.status >= 200 && response.status < 300) return response;
    throw errorFor(what, response, spec.kind, this.now());
  }

  /** Wait before a retry; a wait that would end past the deadline is not started (DEADLINE now, not later). */
  private async wait(ms: number, spec: RequestSpec, ctx: RequestContext): Promise<void> {
    if (ctx.signal?.aborted) throw aborted();
    if (ctx.deadline !== undefined && this.now() + ms >= ctx.deadline)
      throw pastDeadline(spec, `a retry after ${Math.ceil(ms / 1000)} s would end past the check's deadline`);
    await this.sleep(ms);
    if (ctx.signal?.aborted) throw aborted();
  }

  /** Throw DEADLINE when the gather's deadline has passed. */
  private checkDeadline(spec: RequestSpec, ctx: RequestContext): void {
    if (ctx.deadline !== undefined && this.now() >= ctx.deadline)
      throw pastDeadline(spec, "the check's deadline has passed");
  }

  private async followRedirects(spec: RequestSpec, ctx: RequestContext): Promise<Response> {
    let url = spec.url;
    let method = spec.method;
    let body = spec.body;
    let headers = { ...spec.headers };
    const origin = spec.url.origin;
    for (let hop = 0; ; hop++) {
      const hopSpec = {
        ...spec,
        url,
        method,
        headers,
        body,
        // A one-request exception (a vetted token realm) covers that origin only, not where it redirects.
        alsoAllowPrivate: spec.alsoAllowPrivate && url.origin === origin,
        alsoAllowInsecure: spec.alsoAllowInsecure && url.origin === origin,
      };
      const response = await this.once(hopSpec, ctx);
      const location = headerText(response.headers.location);
      if (!REDIRECT_STATUSES.has(response.status) || !location) return response;
      if (hop + 1 > LIMITS.maxRedirects)
        throw new RegistryError(
          "REDIRECT_REFUSED",
          `${spec.url.host}: more than ${LIMITS.maxRedirects} redirects`,
        );
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new RegistryError("REDIRECT_REFUSED", `${url.host}: redirect to an invalid URL`);
      }
      if (next.protocol !== "https:" && next.protocol !== "http:")
        throw new RegistryError(
          "REDIRECT_REFUSED",
          `${url.host}: redirect to a ${next.protocol} URL refused`,
        );
      // Credentials belong to the origin they were issued for: a blob redirect to a CDN or object
      // store carries its own signed URL, never our Authorization header. A body is refused
      // outright rather than dropped: the only bodies sent are token POSTs, whose form holds the
      // identity token, and a token answered by a host nobody vouched for is not worth having.
      if (next.origin !== origin) {
        if (body !== undefined)
          throw new RegistryError(
            "REDIRECT_REFUSED",
            `${url.host}: refusing to follow a redirect of a ${method} with a body to ${next.host}`,
          );
        headers = Object.fromEntries(
          Object.entries(headers).filter(([name]) => CROSS_ORIGIN_HEADERS.has(name.toLowerCase())),
        );
      }
      if (response.status === 303 && method === "POST") {
        method = "GET";
        body = undefined;
      }
      url = next;
    }
  }

  /** One round trip: check scheme and address, connect to the checked address, read a capped body. */
  private async once(spec: RequestSpec, ctx: RequestContext): Promise<Response> {
    const { url } = spec;
    if (ctx.signal?.aborted) throw aborted();
    this.checkDeadline(spec, ctx);
    // The address first: for a private target, BLOCKED_ADDRESS is the error that explains.
    const address = await this.guard.resolve(url, spec.alsoAllowPrivate);
    if (url.protocol === "http:" && !spec.alsoAllowInsecure && !this.insecure.includes(url))
      throw new RegistryError(
        "INSECURE_REFUSED",
        `plain http refused: add "${url.host}" to the policy's registries.allowInsecure to allow it ${POLICY_HINT}`,
      );
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new RegistryError("INSECURE_REFUSED", `unsupported URL scheme ${url.protocol}`);
    ctx.stats.request(spec.method, spec.kind, url);
    return await new Promise<Response>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, value?: Response) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stopWatching();
        if (err) reject(err);
        else resolve(value!);
      };
      const headers: Record<string, string> = { "user-agent": this.userAgent, ...spec.headers };
      if (spec.body !== undefined) headers["content-length"] = String(Buffer.byteLength(spec.body));
      const req = this.connector(url, {
        method: spec.method,
        headers,
        agent: url.protocol === "https:" ? this.agents.https : this.agents.http,
        lookup: pinnedLookup(address),
      });
      // Settle first: destroying the socket emits its own errors, which must not win.
      const fail = (err: Error) => {
        finish(err);
        req.destroy();
      };
      // One timer for both limits: this round trip's own, and what is left of the gather's.
      const left = ctx.deadline === undefined ? Number.POSITIVE_INFINITY : ctx.deadline - this.now();
      const timer = setTimeout(
        () =>
          fail(
            left < this.timeoutMs
              ? pastDeadline(spec, "the check's deadline passed during the request")
              : new RegistryError(
                  "TIMEOUT",
                  `${spec.method} ${url.host}${url.pathname}: no answer within ${this.timeoutMs} ms`,
                ),
          ),
        Math.max(0, Math.min(this.timeoutMs, left)),
      );
      const stopWatching = ctx.signal ? onAbort(ctx.signal, () => fail(aborted())) : noop;
      req.on("error", (err: NodeJS.ErrnoException) => {
        finish(
          err instanceof RegistryError
            ? err
            : url.protocol === "https:" && TLS_GARBLED.has(err.code ?? "")
              ? new RegistryError(
                  "INSECURE_REFUSED",
                  `${spec.method} ${url.host}${url.pathname}: no TLS answer (${err.code}), as when a registry speaks plain http; plain http refused: add "${url.host}" to the policy's registries.allowInsecure if it does ${POLICY_HINT}`,
                  { cause: err },
                )
              : new RegistryError(
                  "NETWORK",
                  `${spec.method} ${url.host}${url.pathname}: ${err.code ?? err.message}`,
                  { cause: err },
                ),
        );
      });
      req.on("response", (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        // An error body is only read to explain the error, so it is truncated rather than refused.
        const cap = ok ? spec.maxBytes : LIMITS.errorBodyBytes;
        const declared = Number(res.headers["content-length"]);
        if (ok && spec.method !== "HEAD" && Number.isFinite(declared) && declared > cap) {
          fail(tooLarge(spec, url, cap, declared));
          res.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        let received = 0;
        res.on("data", (chunk: Buffer) => {
          ctx.stats.bytes += chunk.length;
          const room = cap - received;
          received += chunk.length;
          if (received <= cap) {
            chunks.push(chunk);
            return;
          }
          if (ok) fail(tooLarge(spec, url, cap));
          else {
            chunks.push(chunk.subarray(0, Math.max(0, room)));
            finish(null, { status, headers: res.headers, body: Buffer.concat(chunks), url });
          }
          res.destroy();
        });
        res.on("end", () => finish(null, { status, headers: res.headers, body: Buffer.concat(chunks), url }));
        res.on("error", (err) =>
          finish(new RegistryError("NETWORK", `${url.host}: ${err.message}`, { cause: err })),
        );
        res.on("aborted", () =>
          finish(new RegistryError("NETWORK", `${url.host}: connection closed mid-response`)),
        );
      });
      // Aborted while the address was resolved: the listener added above would never fire.
      if (ctx.signal?.aborted) {
        fail(aborted());
        return;
      }
      req.end(spec.body);
    });
  }
}

const noop = () => {};

/** Per signal: its one abort listener and the callbacks it calls. */
const abortWatchers = new WeakMap<AbortSignal, { listener: () => void; callbacks: Set<() => void> }>();

/**
 * Call `callback` when `signal` aborts; returns the function that stops watching. One gather's
 * signal is shared by every request of that gather, dozens at once: each adding its own listener
 * trips Node's MaxListenersExceededWarning (past 10 on one EventTarget), and raising the limit
 * would hide a real leak. So a signal carries one listener however many requests watch it, and
 * the last request to end removes it.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let watch = abortWatchers.get(signal);
  if (!watch) {
    const callbacks = new Set<() => void>();
    const listener = () => {
      abortWatchers.delete(signal);
      for (const c of [...callbacks]) c();
      callbacks.clear();
    };
    watch = { listener, callbacks };
    abortWatchers.set(signal, watch);
    signal.addEventListener("abort", listener, { once: true });
  }
  const { listener, callbacks } = watch;
  // A fresh function per call: the same callback watched twice is two entries.
  const entry = () => callback();
  callbacks.add(entry);
  return () => {
    if (!callbacks.delete(entry) || callbacks.size > 0) return;
    signal.removeEventListener("abort", listener);
    if (abortWatchers.get(signal)?.callbacks === callbacks) abortWatchers.delete(signal);
  };
}

/** A `lookup` that answers with the address the guard already checked, whatever the name. */
function pinnedLookup(address: ResolvedAddress): LookupFunction {
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: address.address, family: address.family }]);
    else callback(null, address.address, address.family);
  }) as unknown as LookupFunction;
}

function tooLarge(spec: RequestSpec, url: URL, cap: number, declared?: number): RegistryError {
  const what = declared === undefined ? "the body ran past" : `the body declares ${declared} bytes, over`;
  return new RegistryError(
    "TOO_LARGE",
    `${spec.method} ${url.host}${url.pathname}: ${what} the ${cap}-byte cap for a ${spec.kind}`,
  );
}

/** DEADLINE for `spec`: the check ran out of its overall time (policy `limits.checkSeconds`). */
function pastDeadline(spec: RequestSpec, why: string): RegistryError {
  return new RegistryError(
    "DEADLINE",
    `${spec.method} ${spec.url.host}${spec.url.pathname}: ${why} (policy limits.checkSeconds)`,
  );
}

function aborted(): RegistryError {
  return new RegistryError("ABORTED", "gathering was aborted");
}

/** A header's value as one string. */
export function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The RegistryError for an error answer, with Retry-After kept. */
export function errorFor(what: string, response: Response, kind: ResourceKind, nowMs: number): RegistryError {
  const retryAfter = parseRetryAfter(headerText(response.headers["retry-after"]), nowMs);
  return errorForResponse(what, response.status, kind, response.body, retryAfter);
}
