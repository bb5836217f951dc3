/**
 * EngineSource: facts about an image in a local Docker engine, through the Engine API
 * (https://docs.docker.com/reference/api/engine/), mapped into the same ImageFacts as the registry
 * source. No layer is read: image inspect, history, distribution inspect, and the containers
 * running the image with their `top`.
 */
import type {
  AttestationArtifact,
  ContainerFacts,
  GatherOptions,
  GatherStats,
  ImageFacts,
  ImageSource,
  IncompletePart,
  Platform,
  SignatureArtifact,
} from "../facts/model.js";
import { formatPlatform } from "../facts/model.js";
import { effectiveTag, familiarName } from "../reference/parse.js";
import type { ImageReference } from "../reference/types.js";
import { EngineError, type EngineErrorCode } from "./errors.js";
import {
  configFacts,
  containerFacts,
  containerListSchema,
  containerTopSchema,
  type DistributionInspect,
  distributionSchema,
  type EngineContainer,
  historyFacts,
  type ImageInspect,
  imageHistorySchema,
  imageInspectSchema,
  layerFacts,
  platformOf,
  platformsOf,
  repoDigestFor,
  topFacts,
} from "./map.js";
import {
  dockerodeTransport,
  EngineHttpError,
  type EngineTransport,
  endpointText,
  parseDockerHost,
} from "./transport.js";

/** Defaults, each with why. */
export const ENGINE_DEFAULTS = {
  /**
   * The newest Engine API version whose answers this mapping was written against (Docker 28.0,
   * the first to tell a containerd-store image's descriptor apart from its config). Newer engines
   * are asked in this dialect; older ones in their own.
   */
  clientMaxApiVersion: "1.48",
  /** `GET /distribution` arrived in 1.30 (Docker 17.06); older engines are out of support anyway. */
  clientMinApiVersion: "1.30",
  /** A local engine answers in milliseconds; this only bounds a wedged daemon or a dead tcp peer. */
  requestTimeoutMs: 20_000,
  /** Distribution inspect makes the engine ask the registry, which may be slow or far. */
  distributionTimeoutMs: 30_000,
  /** `top` costs one call per container; a few show what runs without a call per replica on a busy host. */
  maxTopContainers: 10,
};

/**
 * Signatures and attestations for `digests`, looked up in `ref`'s registry (RegistrySource.findArtifacts).
 * Failures of single look-ups come back in `incomplete`; DIGEST_MISMATCH and ABORTED are thrown.
 */
export type RegistryArtifactsLookup = (
  ref: ImageReference,
  digests: string[],
  signal?: AbortSignal,
) => Promise<{
  signatures: SignatureArtifact[];
  attestations: AttestationArtifact[];
  incomplete: IncompletePart[];
  /** The registry's cost, added to the gather's. */
  stats?: Pick<GatherStats, "requests" | "bytes" | "byKind">;
}>;

/** Look-up failures that fail the whole gather: tampered bytes are never just "incomplete". */
const FATAL_LOOKUP_CODES = ["DIGEST_MISMATCH", "ABORTED"];

/** Options of EngineSource. */
export interface EngineSourceOptions {
  /** DOCKER_HOST as configured (`unix:///path`, `tcp://host:port`); the default socket when unset. Never read from the environment here. */
  dockerHost?: string;
  /** The Engine API transport; tests inject one that replays recorded answers. Default: dockerode at `dockerHost`. */
  docker?: EngineTransport;
  /** How to fetch signatures and attestations from the image's registry once its digest is known. */
  registryArtifacts?: RegistryArtifactsLookup;
  /** Monotonic milliseconds, for `stats.durationMs`. */
  now?: () => number;
  requestTimeoutMs?: number;
  distributionTimeoutMs?: number;
}

/** One engine GET of a gather, already versioned, counted and bounded by the gather's signal. */
type Getter = (
  kind: string,
  path: string,
  opts?: { query?: Record<string, string>; timeoutMs?: number },
) => Promise<unknown>;

/** What the optional parts of a gather share: they record failures in `incomplete` unless the gather was aborted. */
interface GatherContext {
  get: Getter;
  signal: AbortSignal | undefined;
  incomplete: IncompletePart[];
}

/** Counts the engine calls of one gather. */
class CallStats {
  requests = 0;
  bytes = 0;
  byKind: Record<string, number> = {};

  add(kind: string, body: unknown): void {
    this.requests++;
    const key = `engine ${kind}`;
    this.byKind[key] = (this.byKind[key] ?? 0) + 1;
    // docker-modem hands over the parsed body; its re-serialized length is the byte count, within whitespace.
    if (body !== undefined) this.bytes += Buffer.byteLength(JSON.stringify(body) ?? "");
  }

  /** Add another gatherer's cost (the registry's, for signatures and attestations). */
  merge(other: Pick<GatherStats, "requests" | "bytes" | "byKind">): void {
    this.requests += other.requests;
    this.bytes += other.bytes;
    for (const [kind, n] of Object.entries(other.byKind)) this.byKind[kind] = (this.byKind[kind] ?? 0) + n;
  }
}

/** Numeric compare of `major.minor` API versions (1.9 < 1.30): negative, zero or positive. */
export function compareApiVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split(".").map(Number);
  const [bMajor = 0, bMinor = 0] = b.split(".").map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

/**
 * The API version to speak: the engine's own when it is older than ours, else our newest, as the
 * docker CLI negotiates (https://docs.docker.com/reference/api/engine/#api-version-matrix).
 */
export function negotiateApiVersion(
  server: { apiVersion?: string; minApiVersion?: string },
  client: { max: string; min: string } = {
    max: ENGINE_DEFAULTS.clientMaxApiVersion,
    min: ENGINE_DEFAULTS.clientMinApiVersion,
  },
): string {
  const serverMax = server.apiVersion && /^\d+\.\d+$/.test(server.apiVersion) ? server.apiVersion : undefined;
  if (!serverMax) throw new EngineError("BAD_RESPONSE", "the engine's /version answer has no ApiVersion");
  const chosen = compareApiVersions(serverMax, client.max) < 0 ? serverMax : client.max;
  if (compareApiVersions(chosen, client.min) < 0) {
    throw new EngineError(
      "ENGINE_UNAVAILABLE",
      `the engine speaks API ${serverMax}; image-check needs ${client.min} or newer`,
    );
  }
  if (server.minApiVersion && compareApiVersions(chosen, server.minApiVersion) < 0) {
    throw new EngineError(
      "ENGINE_UNAVAILABLE",
      `the engine needs API ${server.minApiVersion} or newer; image-check speaks up to ${client.max}`,
    );
  }
  return chosen;
}

/** Errors the operating system gives when nothing answers at the engine's address. */
function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z_]+$/.test(code) && code !== "ABORT_ERR";
}

/** Facts about images in a Docker engine. */
export class EngineSource implements ImageSource {
  readonly kind = "engine" as const;
  readonly #options: EngineSourceOptions;
  readonly #now: () => number;
  #transport: EngineTransport | undefined;
  /** The negotiated API version, asked once per source; a failed negotiation is retried next time. */
  #apiVersion: Promise<string> | undefined;

  constructor(options: EngineSourceOptions = {}) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The Engine API version this source speaks with the engine (negotiated on first use). */
  apiVersion(signal?: AbortSignal): Promise<string> {
    return this.#negotiate(new CallStats(), signal);
  }

  async gather(ref: ImageReference, options: GatherOptions = {}): Promise<ImageFacts> {
    const started = this.#now();
    const stats = new CallStats();
    const { signal } = options;
    const apiVersion = await this.#negotiate(stats, signal);
    const get: Getter = (kind, path, opts = {}) =>
      this.#get(stats, kind, `/v${apiVersion}${path}`, { ...opts, signal });

    const inspect = parse(
      imageInspectSchema,
      await get("GET image", `/images/${lookupName(ref)}/json`).catch(notInEngine(ref)),
      "image inspect",
    );
    const platform = platformOf(inspect);
    if (options.platform && !samePlatform(options.platform, platform)) {
      // The engine holds one platform per name; facts for another would silently describe a different image.
      throw new EngineError(
        "IMAGE_NOT_IN_ENGINE",
        `the engine has ${familiarName(ref)} for ${formatPlatform(platform)}, not ${formatPlatform(options.platform)}`,
      );
    }
    const digest = repoDigestFor(ref, inspect.RepoDigests ?? []);
    const incomplete: IncompletePart[] = [];

    const [history, distribution, containers, artifacts] = await Promise.all([
      get("GET history", `/images/${inspect.Id}/history`)
        .catch(notInEngine(ref))
        .then((body) => parse(imageHistorySchema, body, "image history")),
      this.#distribution(ref, digest, { get, signal, incomplete }),
      this.#containers(inspect.Id, { get, signal, incomplete }),
      this.#artifacts(ref, digest, signal),
    ]);
    incomplete.push(...artifacts.incomplete);
    if (artifacts.stats) stats.merge(artifacts.stats);

    const layerCount = inspect.RootFS?.Layers?.length ?? 0;
    const { entries, stepSizes } = historyFacts(history, layerCount);
    const descriptor = distribution?.Descriptor.digest === digest ? distribution?.Descriptor : undefined;
    const offered = distribution ? platformsOf(distribution) : [];
    const facts: ImageFacts = {
      reference: ref,
      source: "engine",
      configDigest: configDigestOf(inspect),
      platform,
      platforms: offered.length ? offered : [platform],
      config: configFacts(inspect),
      history: entries,
      layers: layerFacts(inspect, stepSizes),
      annotations: {},
      indexAnnotations: {},
      signatures: artifacts.signatures,
      attestations: artifacts.attestations,
      engineInfo: {
        id: inspect.Id,
        repoTags: inspect.RepoTags ?? [],
        repoDigests: inspect.RepoDigests ?? [],
        containers,
        apiVersion,
      },
      incomplete,
      stats: { requests: stats.requests, bytes: stats.bytes, durationMs: 0, byKind: stats.byKind },
    };
    if (digest) facts.digest = digest;
    if (descriptor?.mediaType) {
      facts.mediaType = descriptor.mediaType;
      if (!/index|list/.test(descriptor.mediaType)) {
        facts.manifestDigest = descriptor.digest;
        facts.manifestMediaType = descriptor.mediaType;
      }
    }
    facts.stats.durationMs = Math.round(this.#now() - started);
    return facts;
  }

  /**
   * Every container on the engine (running ones; all with `all`), each with its image's repo
   * digests (`docker ps` plus one image inspect per distinct image). An image removed under a
   * container (`docker rmi -f`) has no repo digests left.
   */
  async listContainers(options: { all?: boolean; signal?: AbortSignal } = {}): Promise<EngineContainer[]> {
    const { signal } = options;
    const stats = new CallStats();
    const apiVersion = await this.#negotiate(stats, signal);
    const get: Getter = (kind, path, opts = {}) =>
      this.#get(stats, kind, `/v${apiVersion}${path}`, { ...opts, signal });
    const query = options.all ? { all: "true" } : undefined;
    const list = parse(
      containerListSchema,
      await get("GET containers", "/containers/json", query ? { query } : {}),
      "container list",
    );
    const imageIds = [...new Set(list.map((c) => c.ImageID ?? "").filter((id) => id !== ""))];
    const digests = new Map<string, string[]>();
    await Promise.all(
      imageIds.map(async (id) => {
        try {
          const inspect = parse(
            imageInspectSchema,
            await get("GET image", `/images/${id}/json`),
            "image inspect",
          );
          digests.set(id, inspect.RepoDigests ?? []);
        } catch (err) {
          if (err instanceof EngineError && err.status === 404) return;
          throw err;
        }
      }),
    );
    return list.map((c) => ({
      id: c.Id,
      name: (c.Names ?? [])[0]?.replace(/^\//, "") ?? c.Id.slice(0, 12),
      image: c.Image ?? "",
      imageId: c.ImageID ?? "",
      state: c.State ?? "",
      repoDigests: digests.get(c.ImageID ?? "") ?? [],
    }));
  }

  /** The process table of a running container (`docker top`); null when it is gone or not running. */
  async processes(
    containerId: string,
    signal?: AbortSignal,
  ): Promise<NonNullable<ContainerFacts["top"]> | null> {
    const stats = new CallStats();
    const apiVersion = await this.#negotiate(stats, signal);
    try {
      const body = await this.#get(
        stats,
        "GET top",
        `/v${apiVersion}/containers/${encodeURIComponent(containerId)}/top`,
        {
          signal,
        },
      );
      return topFacts(parse(containerTopSchema, body, "container top"));
    } catch (err) {
      // 404/409: the container went away or stopped since it was listed.
      if (err instanceof EngineError && (err.status === 404 || err.status === 409)) return null;
      throw err;
    }
  }

  /**
   * The shared negotiation runs under its own timeout only, so one caller's abort cannot fail
   * another caller waiting on it; each caller stops waiting when its own signal fires.
   */
  #negotiate(stats: CallStats, signal: AbortSignal | undefined): Promise<string> {
    if (!this.#apiVersion) {
      const pending = this.#get(stats, "GET version", "/version", {}).then((body) => {
        const v = (body ?? {}) as { ApiVersion?: unknown; MinAPIVersion?: unknown };
        return negotiateApiVersion({
          ...(typeof v.ApiVersion === "string" ? { apiVersion: v.ApiVersion } : {}),
          ...(typeof v.MinAPIVersion === "string" ? { minApiVersion: v.MinAPIVersion } : {}),
        });
      });
      this.#apiVersion = pending;
      pending.catch(() => {
        if (this.#apiVersion === pending) this.#apiVersion = undefined;
      });
    }
    return untilAborted(this.#apiVersion, signal);
  }

  #transportOrFail(): EngineTransport {
    this.#transport ??= this.#options.docker ?? dockerodeTransport(parseDockerHost(this.#options.dockerHost));
    return this.#transport;
  }

  /** One engine call, bounded by its own timeout and the caller's signal, failures mapped to EngineError. */
  async #get(
    stats: CallStats,
    kind: string,
    path: string,
    opts: { query?: Record<string, string>; signal?: AbortSignal | undefined; timeoutMs?: number },
  ): Promise<unknown> {
    const timeout = AbortSignal.timeout(
      opts.timeoutMs ?? this.#options.requestTimeoutMs ?? ENGINE_DEFAULTS.requestTimeoutMs,
    );
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    if (opts.signal?.aborted) throw abortError(opts.signal);
    const transport = this.#transportOrFail();
    try {
      const body = await transport.get(path, { ...(opts.query ? { query: opts.query } : {}), signal });
      stats.add(kind, body);
      return body;
    } catch (err) {
      stats.add(kind, undefined);
      if (opts.signal?.aborted) throw abortError(opts.signal, err);
      if (timeout.aborted)
        throw new EngineError("TIMEOUT", `the engine did not answer ${kind} in time`, { cause: err });
      throw engineError(kind, err, this.#endpointText());
    }
  }

  /** Where this source asks the engine, as DOCKER_HOST would say it, so an unreachable engine's error names it. */
  #endpointText(): string {
    try {
      return endpointText(parseDockerHost(this.#options.dockerHost));
    } catch {
      return String(this.#options.dockerHost);
    }
  }

  /** What the registry says about the digest the image has there; skipped for images that never met a registry. */
  async #distribution(
    ref: ImageReference,
    digest: string | undefined,
    { get, signal, incomplete }: GatherContext,
  ): Promise<DistributionInspect | undefined> {
    // Without a repo digest the image was built here and never pushed or pulled: asking the
    // registry would describe some other image (or leak a private name to Docker Hub).
    if (!digest) return undefined;
    const timeoutMs = this.#options.distributionTimeoutMs ?? ENGINE_DEFAULTS.distributionTimeoutMs;
    try {
      const body = await get("GET distribution", `/distribution/${lookupName({ ...ref, digest })}/json`, {
        timeoutMs,
      });
      return parse(distributionSchema, body, "distribution inspect");
    } catch (err) {
      if (signal?.aborted) throw abortError(signal, err);
      incomplete.push({
        part: "engine",
        code: codeOf(err),
        message: `distribution inspect: ${messageOf(err)}`,
      });
      return undefined;
    }
  }

  /** Containers created from the image, with the process table of the running ones. */
  async #containers(imageId: string, { get, signal, incomplete }: GatherContext): Promise<ContainerFacts[]> {
    let containers: ContainerFacts[];
    try {
      const query = { all: "true", filters: JSON.stringify({ ancestor: [imageId] }) };
      containers = containerFacts(
        parse(
          containerListSchema,
          await get("GET containers", "/containers/json", { query }),
          "container list",
        ),
      );
    } catch (err) {
      if (signal?.aborted) throw abortError(signal, err);
      incomplete.push({ part: "engine", code: codeOf(err), message: `container list: ${messageOf(err)}` });
      return [];
    }
    const running = containers
      .filter((c) => c.state === "running")
      .slice(0, ENGINE_DEFAULTS.maxTopContainers);
    await Promise.all(
      running.map(async (c) => {
        try {
          c.top = topFacts(
            parse(containerTopSchema, await get("GET top", `/containers/${c.id}/top`), "container top"),
          );
        } catch (err) {
          // 404/409: the container went away or stopped between the list and `top`; it simply has no processes now.
          if (err instanceof EngineError && (err.status === 404 || err.status === 409)) return;
          if (signal?.aborted) throw abortError(signal, err);
          incomplete.push({
            part: "engine",
            code: codeOf(err),
            message: `top of ${c.id.slice(0, 12)}: ${messageOf(err)}`,
          });
        }
      }),
    );
    return containers;
  }

  /** Signatures and attestations from the registry the image's digest belongs to. Never silently empty. */
  async #artifacts(
    ref: ImageReference,
    digest: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Awaited<ReturnType<RegistryArtifactsLookup>>> {
    const missing = (code: string, message: string) => ({
      signatures: [],
      attestations: [],
      incomplete: (["signatures", "attestations"] as const).map((part) => ({ part, code, message })),
    });
    if (!digest) {
      return missing(
        "ENGINE_NO_DIGEST",
        `the engine's image has no digest in ${ref.registry}/${ref.repository} (built locally, never pushed), so signatures and attestations cannot be looked up`,
      );
    }
    const lookup = this.#options.registryArtifacts;
    if (!lookup)
      return missing(
        "ENGINE_NO_REGISTRY",
        "no registry look-up was configured for signatures and attestations",
      );
    try {
      return await lookup(ref, [digest], signal);
    } catch (err) {
      if (signal?.aborted) throw abortError(signal, err);
      if (FATAL_LOOKUP_CODES.includes(codeOf(err))) throw err;
      return missing(codeOf(err), `registry look-up for signatures and attestations: ${messageOf(err)}`);
    }
  }
}

/**
 * The config digest, which is the image id in the classic image store. With the containerd image
 * store the id is the manifest or index digest instead (it then shows as the descriptor, or as a
 * repo digest), and the engine does not say the config's: unknown, so empty.
 */
function configDigestOf(inspect: ImageInspect): string {
  const isTarget =
    inspect.Descriptor?.digest === inspect.Id ||
    (inspect.RepoDigests ?? []).some((d) => d.endsWith(`@${inspect.Id}`));
  return isTarget ? "" : inspect.Id;
}

/** `work`, or the signal's abort error as soon as it fires. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Same OS and architecture; the variant counts only when both name one (arm64 images often leave out `v8`). */
function samePlatform(wanted: Platform, have: Platform): boolean {
  if (wanted.os !== have.os || wanted.architecture !== have.architecture) return false;
  return !wanted.variant || !have.variant || wanted.variant === have.variant;
}

/** The name the engine knows the image by: familiar form, digest over tag, `latest` by default. */
function lookupName(ref: ImageReference): string {
  if (ref.digest) return familiarName({ ...ref, tag: undefined });
  return familiarName({ ...ref, tag: effectiveTag(ref) });
}

function parse<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: unknown } },
  body: unknown,
  what: string,
): T {
  const result = schema.safeParse(body);
  if (!result.success)
    throw new EngineError("BAD_RESPONSE", `the engine's ${what} answer is not in the expected shape`, {
      cause: result.error,
    });
  return result.data;
}

/** A 404 on the image means it is not in this engine. */
function notInEngine(ref: ImageReference): (err: unknown) => never {
  return (err) => {
    if (err instanceof EngineError && err.status === 404) {
      throw new EngineError("IMAGE_NOT_IN_ENGINE", `${familiarName(ref)} is not in the engine`, {
        cause: err,
        status: 404,
      });
    }
    throw err;
  };
}

function abortError(signal: AbortSignal, cause?: unknown): EngineError {
  const reason = signal.reason as { name?: unknown } | undefined;
  return reason?.name === "TimeoutError"
    ? new EngineError("TIMEOUT", "gathering from the engine timed out", { cause: cause ?? reason })
    : new EngineError("ABORTED", "gathering from the engine was aborted", { cause: cause ?? reason });
}

/** Map a transport failure to an EngineError. */
function engineError(kind: string, err: unknown, endpoint: string): EngineError {
  if (err instanceof EngineError) return err;
  if (err instanceof EngineHttpError) {
    const code: EngineErrorCode =
      err.status >= 500
        ? "SERVER_ERROR"
        : err.status === 401 || err.status === 403
          ? "DENIED"
          : "BAD_RESPONSE";
    const text = err.engineMessage ? `: ${oneLineOf(err.engineMessage)}` : "";
    return new EngineError(code, `the engine answered ${kind} with HTTP ${err.status}${text}`, {
      cause: err,
      status: err.status,
    });
  }
  if (isUnreachable(err)) {
    return new EngineError(
      "ENGINE_UNAVAILABLE",
      `no Docker engine answers at ${endpoint} (${(err as { code: string }).code}); set DOCKER_HOST to the engine's socket or tcp address`,
      { cause: err },
    );
  }
  return new EngineError(
    "ENGINE_UNAVAILABLE",
    `the engine at ${endpoint} could not be asked: ${messageOf(err)}`,
    {
      cause: err,
    },
  );
}

function oneLineOf(text: string): string {
  return text.replace(/\s+/g, " ").trim().slice(0, 300);
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "ERROR";
}

function messageOf(err: unknown): string {
  return oneLineOf(err instanceof Error ? err.message : String(err));
}
