/**
 * RegistrySource: gathers ImageFacts from a registry without downloading a layer.
 *
 * The order of requests is the point of this file. With a warm token, a single-platform tag costs
 * two dependent stages:
 *   1. GET the manifest (its bytes are needed, so no separate HEAD);
 *   2. in parallel: GET the config; GET `sha256-<hex>.sig` and `.att`; the referrers API and/or
 *      GET of its fallback tag `sha256-<hex>`. A 404 costs what a HEAD would, and a tag that exists
 *      is read without a second round trip (HEAD first only where manifest GETs are metered, i.e.
 *      Docker Hub). Only what exists is fetched after that.
 * An index adds one stage (the platform manifest, in parallel with the index's own look-ups and
 * its BuildKit attestation manifests). Within one gather nothing is fetched twice (every manifest,
 * HEAD and blob is memoized by reference or digest), and a re-check in the same process fetches
 * no config, signature or attestation blob it already holds (BlobCache: blobs are named by their
 * digest; what names them is still asked each time).
 *
 * A failure looking up signatures or attestations, once the image itself was read, is recorded in
 * `facts.incomplete`; a DIGEST_MISMATCH anywhere fails the gather, since it means the registry
 * (or something between) serves content that is not what it claims.
 *
 * What a registry can make one gather fetch for signatures and attestations is bounded: a few
 * BuildKit attestation manifests (those naming the chosen platform), a few dozen referrers per
 * subject, one byte and request budget for all artifact manifests and blobs together, and a few
 * artifact fetches in flight at once (ARTIFACT_LIMITS, LIMITS). What is left out is recorded as
 * TOO_LARGE in `facts.incomplete`, so the check cannot pass on part of the evidence.
 */
import { performance } from "node:perf_hooks";
import { isCoded, oneLine } from "../errors.js";
import {
  type AttestationArtifact,
  DEFAULT_PLATFORM,
  type FetchedBlob,
  formatPlatform,
  type GatherOptions,
  type ImageFacts,
  type ImageSource,
  type IncompletePart,
  type NotaryFacts,
  type Platform,
  type SignatureArtifact,
} from "../facts/model.js";
import { sameHost } from "../reference/host.js";
import { effectiveTag } from "../reference/parse.js";
import type { ImageReference } from "../reference/types.js";
import {
  ARTIFACT_LIMITS,
  ARTIFACT_TYPES,
  announcedPredicates,
  bundleAttestationPredicate,
  digestTag,
  isAttestationEntry,
  isBuildkitAttestationFor,
  referrerKind,
} from "./artifacts.js";
import { Authenticator, MemoryTokenCache, type TokenCache } from "./auth.js";
import { BlobCache } from "./blob-cache.js";
import {
  capOf,
  type Descriptor,
  type FetchedManifest,
  isImageManifest,
  isIndex,
  MEDIA,
  RegistryClient,
  registryBaseUrl,
  type SizeLimit,
} from "./client.js";
import { anonymousCredentials, type CredentialStore } from "./credentials.js";
import { RegistryError } from "./errors.js";
import { AddressGuard, type Resolver } from "./guard.js";
import { configFacts, historyFacts } from "./image-config.js";
import { ManifestCache } from "./manifest-cache.js";
import { type Connector, LIMITS, type RequestContext, StatsRecorder, Transport } from "./transport.js";

/** Options of a RegistrySource. */
export interface RegistrySourceOptions {
  /** Registry hosts (`host[:port]`) allowed to resolve to loopback/private/link-local addresses. */
  allowPrivate?: string[];
  /** Registry hosts allowed over plain http. */
  allowInsecure?: string[];
  credentials?: CredentialStore;
  resolver?: Resolver;
  /** Share one across sources so tokens survive a source. */
  tokenCache?: TokenCache;
  /** Legacy Docker Content Trust servers, by registry host. */
  notary?: { registry: string; server: string }[];
  timeoutMs?: number;
  userAgent?: string;
  sleep?: (ms: number) => Promise<void>;
  /** Opens HTTP requests; injectable so tests can prove nothing was attempted. */
  connector?: Connector;
  random?: () => number;
  /** Wall clock (token expiry, Retry-After dates). */
  now?: () => number;
  /** Manifests kept for conditional re-fetches (`GatherOptions.knownDigest`); one per source by default. */
  manifestCache?: ManifestCache;
  /** Configs, signature and attestation blobs kept by digest for re-checks; one per source by default. */
  blobCache?: BlobCache;
}

/** What a look-up for signatures and attestations found. */
export interface FoundArtifacts {
  signatures: SignatureArtifact[];
  attestations: AttestationArtifact[];
  incomplete: IncompletePart[];
}

/**
 * Codes that fail a gather even when they happen during a look-up: DEADLINE too, since a look-up
 * that ran out of time means every other one has, and the check must end now, not judge a part.
 */
const FATAL = ["DIGEST_MISMATCH", "ABORTED", "DEADLINE"] as const;

const noop = () => {};

/** Mark a promise's rejection as handled now; it is awaited (and rethrown) later. */
function started<T>(p: Promise<T>): Promise<T> {
  p.catch(noop);
  return p;
}

function incompleteFrom(part: IncompletePart["part"], err: unknown): IncompletePart {
  return { part, code: isCoded(err) ? err.code : "UNKNOWN", message: oneLine(err) };
}

/**
 * What one gather may spend on signatures and attestations (LIMITS.artifactBudgetBytes and
 * LIMITS.artifactRequests). Each artifact manifest and blob takes its declared size before it is
 * requested, so the budget holds however many fetches run at once. The first refusal closes it:
 * every later fetch is refused too, and each look-up refused records TOO_LARGE, so the check
 * says it is incomplete rather than judging a part of the evidence as the whole.
 */
class ArtifactBudget {
  private bytesLeft: number = LIMITS.artifactBudgetBytes;
  private requestsLeft: number = LIMITS.artifactRequests;
  private closed = false;

  /** Take `bytes` and one request for `what`, or throw TOO_LARGE. */
  take(bytes: number, what: string): void {
    if (!this.closed && bytes <= this.bytesLeft && this.requestsLeft > 0) {
      this.bytesLeft -= bytes;
      this.requestsLeft--;
      return;
    }
    this.closed = true;
    throw new RegistryError(
      "TOO_LARGE",
      `${what}: not fetched, past the budget for one image's signatures and attestations (${LIMITS.artifactBudgetBytes} bytes, ${LIMITS.artifactRequests} requests)`,
    );
  }
  /** Return the part of a reservation that was not read (a body shorter than its cap, or none at all). */
  giveBack(bytes: number): void {
    this.bytesLeft += Math.max(0, bytes);
  }
}

/** Runs at most `limit` tasks at once; the others wait their turn, in order. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active++;
    // A finishing task hands its slot straight to the next, so `active` stays counted.
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/**
 * One gather's view of one repository: memoized requests, shared stats. Artifact manifests and
 * blobs (signatures, attestations) go through the gather's budget and concurrency limit; the
 * image's own manifests and config do not wait behind them.
 */
class Session {
  private readonly manifests = new Map<string, Promise<FetchedManifest>>();
  private readonly heads = new Map<string, Promise<Descriptor | null>>();
  private readonly tagged = new Map<string, Promise<FetchedManifest | null>>();
  private readonly blobs = new Map<string, Promise<Buffer>>();
  private readonly budget = new ArtifactBudget();
  private readonly artifactSlots = new Limiter(LIMITS.artifactConcurrency);

  constructor(
    readonly client: RegistryClient,
    readonly repository: string,
    readonly ctx: RequestContext,
    private readonly kept: ManifestCache,
    private readonly keptBlobs: BlobCache,
  ) {}

  private memoManifest(reference: string, fetch: () => Promise<FetchedManifest>): Promise<FetchedManifest> {
    let p = this.manifests.get(reference);
    if (!p) {
      p = started(fetch());
      this.manifests.set(reference, p);
      p.then((m) => {
        if (!this.manifests.has(m.digest)) this.manifests.set(m.digest, p!);
      }, noop);
    }
    return p;
  }

  /** The image's own manifest or index. */
  manifest(reference: string): Promise<FetchedManifest> {
    return this.memoManifest(reference, () => this.client.getManifest(this.repository, reference, this.ctx));
  }

  /**
   * What the image's reference names (stage 1), kept for later conditional fetches. `knownDigest`:
   * the digest a tag is expected to name; when that manifest is held, the GET asks whether it
   * changed (RegistryClient.getManifest).
   */
  top(reference: string, knownDigest?: string): Promise<FetchedManifest> {
    return this.memoManifest(reference, async () => {
      const known = knownDigest ? this.kept.get(knownDigest) : undefined;
      const m = await this.client.getManifest(this.repository, reference, this.ctx, undefined, known);
      this.kept.put(m);
      return m;
    });
  }

  /**
   * A manifest fetched only for signatures or attestations, within `size`: charged to the budget
   * (as the largest manifest when its size is unknown) and run in an artifact slot.
   */
  artifactManifest(reference: string, size: SizeLimit): Promise<FetchedManifest> {
    return this.memoManifest(reference, async () => {
      const cap = capOf(size);
      if (cap > LIMITS.manifestBytes)
        throw new RegistryError(
          "TOO_LARGE",
          `${this.repository} manifest ${reference}: declared ${cap} bytes, over the ${LIMITS.manifestBytes}-byte cap`,
        );
      this.budget.take(cap, `${this.repository} manifest ${reference}`);
      return this.artifactSlots.run(() =>
        this.client.getManifest(this.repository, reference, this.ctx, size),
      );
    });
  }

  /**
   * The artifact manifest a HEAD of `tag` found, by digest when the HEAD named one. Its
   * Content-Length caps the GET, but is not covered by any digest: a GET that runs past it is
   * TOO_LARGE (an inconsistent registry, or a tag that moved), not a mismatch.
   */
  artifactManifestAt(tag: string, head: Descriptor): Promise<FetchedManifest> {
    return this.artifactManifest(head.digest || tag, {
      max: head.size > 0 ? head.size : LIMITS.manifestBytes,
    });
  }

  /**
   * The artifact manifest `tag` names (cosign's `.sig` and `.att`, the referrers fallback index),
   * or null when there is none. One GET, capped at `cap`: the cap is reserved in the budget before
   * the request is sent, and what the body did not use is given back after. Where manifest GETs are
   * metered and HEADs are not (Docker Hub), HEAD first and GET only what exists, as before: one
   * more dependent round trip for a tag that exists, but no pull counted for one that does not.
   */
  artifactManifestAtTag(
    tag: string,
    cap: number = ARTIFACT_LIMITS.tagManifestBytes,
  ): Promise<FetchedManifest | null> {
    let p = this.tagged.get(tag);
    if (!p) {
      p = started(
        this.client.metersManifestGets
          ? this.head(tag).then((head) => (head ? this.artifactManifestAt(tag, head) : null))
          : this.getTagged(tag, cap),
      );
      this.tagged.set(tag, p);
    }
    return p;
  }

  private async getTagged(tag: string, cap: number): Promise<FetchedManifest | null> {
    this.budget.take(cap, `${this.repository} manifest ${tag}`);
    const manifest = await this.artifactSlots.run(() =>
      this.client.findManifest(this.repository, tag, this.ctx, { max: cap }),
    );
    this.budget.giveBack(cap - (manifest?.bytes.length ?? 0));
    if (manifest && !this.manifests.has(manifest.digest))
      this.manifests.set(manifest.digest, Promise.resolve(manifest));
    return manifest;
  }

  head(tag: string): Promise<Descriptor | null> {
    let p = this.heads.get(tag);
    if (!p) {
      p = started(this.client.headManifest(this.repository, tag, this.ctx));
      this.heads.set(tag, p);
    }
    return p;
  }

  private memoBlob(descriptor: Descriptor, maxBytes: number, fetch: () => Promise<Buffer>): Promise<Buffer> {
    let p = this.blobs.get(descriptor.digest);
    if (!p) {
      // The manifest's size is checked first: a blob declared too large is never requested.
      p = started(
        descriptor.size > maxBytes
          ? Promise.reject(
              new RegistryError(
                "TOO_LARGE",
                `${this.repository} blob ${descriptor.digest}: declared ${descriptor.size} bytes, over the ${maxBytes}-byte cap`,
              ),
            )
          : fetch(),
      );
      this.blobs.set(descriptor.digest, p);
    }
    return p;
  }

  /**
   * The blob `descriptor` names as an earlier check of this process fetched and verified it (when
   * it has the declared size), else fetched now and kept (BlobCache).
   */
  private async keptOr(descriptor: Descriptor, fetch: () => Promise<Buffer>): Promise<Buffer> {
    const held = this.keptBlobs.get(descriptor.digest, descriptor.size);
    if (held) return held;
    const bytes = await fetch();
    this.keptBlobs.put(descriptor.digest, bytes);
    return bytes;
  }

  /** The image's config blob. */
  blob(descriptor: Descriptor, maxBytes: number): Promise<Buffer> {
    return this.memoBlob(descriptor, maxBytes, () =>
      this.keptOr(descriptor, () =>
        this.client.getBlob(this.repository, descriptor.digest, { max: maxBytes }, this.ctx),
      ),
    );
  }

  /**
   * A signature or attestation blob: charged to the budget (kept or not, so a check reads no more
   * evidence from the cache than it could fetch), capped at and held to its declared size.
   */
  private artifactBlob(descriptor: Descriptor): Promise<Buffer> {
    return this.memoBlob(descriptor, LIMITS.artifactBytes, async () => {
      this.budget.take(descriptor.size, `${this.repository} blob ${descriptor.digest}`);
      return this.keptOr(descriptor, () =>
        this.artifactSlots.run(() =>
          this.client.getBlob(this.repository, descriptor.digest, { declared: descriptor.size }, this.ctx),
        ),
      );
    });
  }

  /**
   * The blobs of an artifact manifest, as the facts keep them. A manifest with more layers than
   * are read is refused whole (TOO_LARGE, recorded as incomplete): a signature among the unread
   * layers would otherwise be judged on part of its evidence.
   */
  async artifactBlobs(manifest: FetchedManifest): Promise<FetchedBlob[]> {
    const all = manifest.json.layers ?? [];
    if (all.length > ARTIFACT_LIMITS.blobsPerArtifact)
      throw new RegistryError(
        "TOO_LARGE",
        `${this.repository} artifact ${manifest.digest}: ${all.length} layers, at most ${ARTIFACT_LIMITS.blobsPerArtifact} are read`,
      );
    const layers = all;
    return Promise.all(
      layers.map(async (layer) => ({
        mediaType: typeof layer.mediaType === "string" ? layer.mediaType : "",
        digest: layer.digest,
        size: layer.size,
        annotations: stringRecord(layer.annotations),
        data: (await this.artifactBlob(layer)).toString("base64"),
      })),
    );
  }
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value && typeof value === "object" && !Array.isArray(value))
    for (const [k, v] of Object.entries(value)) if (typeof v === "string") out[k] = v;
  return out;
}

/** Gathers facts from OCI registries. */
export class RegistrySource implements ImageSource {
  readonly kind = "registry" as const;
  private readonly transport: Transport;
  private readonly cache: TokenCache;
  private readonly credentials: CredentialStore;
  private readonly notary: { registry: string; server: string }[];
  private readonly now: () => number;
  private readonly authenticators = new Map<string, Authenticator>();
  /** Per registry: whether it implements the referrers API (learnt once, then only the right look-up is made). */
  private readonly referrersApi = new Map<string, boolean>();
  private readonly manifestCache: ManifestCache;
  private readonly blobCache: BlobCache;

  constructor(options: RegistrySourceOptions = {}) {
    this.now = options.now ?? Date.now;
    const guard = new AddressGuard({
      allowPrivate: options.allowPrivate ?? [],
      ...(options.resolver ? { resolver: options.resolver } : {}),
    });
    this.transport = new Transport({
      guard,
      allowInsecure: options.allowInsecure ?? [],
      now: this.now,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.userAgent ? { userAgent: options.userAgent } : {}),
      ...(options.sleep ? { sleep: options.sleep } : {}),
      ...(options.connector ? { connector: options.connector } : {}),
      ...(options.random ? { random: options.random } : {}),
    });
    this.cache = options.tokenCache ?? new MemoryTokenCache();
    this.credentials = options.credentials ?? anonymousCredentials;
    this.notary = options.notary ?? [];
    this.manifestCache = options.manifestCache ?? new ManifestCache();
    this.blobCache = options.blobCache ?? new BlobCache();
  }

  /** Close idle keep-alive connections (call when done, so the process can exit at once). */
  close(): void {
    this.transport.close();
  }

  private authenticator(registry: string, base: URL, credentials = this.credentials): Authenticator {
    const key = `${credentials === this.credentials ? "" : "other|"}${base.origin}|${registry}`;
    let auth = this.authenticators.get(key);
    if (!auth) {
      auth = new Authenticator({
        transport: this.transport,
        registry,
        base,
        credentials,
        cache: this.cache,
        now: this.now,
      });
      this.authenticators.set(key, auth);
    }
    return auth;
  }

  private session(ref: ImageReference, ctx: RequestContext): Session {
    const base = registryBaseUrl(ref.registry, this.transport);
    const client = new RegistryClient({
      registry: ref.registry,
      base,
      transport: this.transport,
      auth: this.authenticator(ref.registry, base),
      now: this.now,
    });
    return new Session(client, ref.repository, ctx, this.manifestCache, this.blobCache);
  }

  /**
   * What `ref`'s tag (`latest` when it names none) resolves to now: the digest of the manifest or,
   * for a multi-arch image, of the index, checked against the bytes fetched (a registry's
   * Docker-Content-Digest is never taken on its word). For `image-check pin`.
   */
  async resolveTag(
    ref: ImageReference,
    signal?: AbortSignal,
  ): Promise<{ digest: string; mediaType: string }> {
    const session = this.session(ref, { stats: new StatsRecorder(), ...(signal ? { signal } : {}) });
    const top = await session.manifest(effectiveTag(ref) ?? "latest");
    return { digest: top.digest, mediaType: top.mediaType };
  }

  /** Gather the facts of the image `ref` names. */
  async gather(ref: ImageReference, options: GatherOptions = {}): Promise<ImageFacts> {
    const startedAt = performance.now();
    const internal = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, internal.signal]) : internal.signal;
    const stats = new StatsRecorder();
    const ctx: RequestContext = {
      stats,
      signal,
      ...(options.timeLimitMs !== undefined ? { deadline: this.now() + options.timeLimitMs } : {}),
    };
    const session = this.session(ref, ctx);
    try {
      return await this.gatherIn(session, ref, options, () => performance.now() - startedAt);
    } catch (err) {
      if (options.signal?.aborted)
        throw new RegistryError("ABORTED", "gathering was aborted", { cause: err });
      throw err;
    } finally {
      // Stop look-ups still in flight when the gather failed early.
      internal.abort();
    }
  }

  private async gatherIn(
    session: Session,
    ref: ImageReference,
    options: GatherOptions,
    elapsed: () => number,
  ): Promise<ImageFacts> {
    const { ctx } = session;
    const notary = this.notaryFor(ref) ? started(this.notaryFacts(ref, ctx)) : undefined;
    const reference = ref.digest ?? effectiveTag(ref)!;

    // Stage 1: what the reference resolves to (a re-check asks whether the tag changed, when it can).
    const top = await session.top(reference, ref.digest ? undefined : options.knownDigest);

    const lookups: Promise<FoundArtifacts>[] = [started(this.lookups(session, top.digest))];
    const tagDigest =
      ref.digest && ref.tag ? started(session.head(ref.tag).then((d) => d?.digest || undefined)) : undefined;
    const incomplete: IncompletePart[] = [];
    const tags = options.listTags
      ? started(
          session.client.listTags(ref.repository, ctx).catch((err: unknown) => {
            if (isCoded(err, ...FATAL)) throw err;
            incomplete.push(incompleteFrom("tags", err));
            return undefined;
          }),
        )
      : undefined;

    let manifest = top;
    let platform: Platform;
    let platforms: Platform[];
    if (isIndex(top)) {
      const wanted = options.platform ?? DEFAULT_PLATFORM;
      const entries = (top.json.manifests ?? []).filter((d) => !isAttestationEntry(d) && d.platform);
      platforms = entries.map((d) => platformOf(d.platform!));
      const chosen = pickPlatform(entries, wanted);
      if (!chosen)
        throw new RegistryError(
          "PLATFORM_NOT_FOUND",
          `${ref.registry}/${ref.repository}: no ${formatPlatform(wanted)} image in the index; available: ${
            platforms.map(formatPlatform).join(", ") || "none"
          }`,
        );
      platform = platformOf(chosen.platform!);
      // Only the attestation manifests that name the chosen platform, and only a few of those.
      const attestationEntries = [
        ...new Map(
          (top.json.manifests ?? [])
            .filter((entry) => isBuildkitAttestationFor(entry, chosen.digest))
            .map((entry) => [entry.digest, entry]),
        ).values(),
      ];
      const { attestationManifestsPerImage: most } = ARTIFACT_LIMITS;
      for (const entry of attestationEntries.slice(0, most))
        lookups.push(started(this.buildkit(session, top.digest, entry)));
      if (attestationEntries.length > most)
        incomplete.push({
          part: "attestations",
          code: "TOO_LARGE",
          message: `${ref.registry}/${ref.repository}: the index names ${attestationEntries.length} attestation manifests for ${formatPlatform(platform)}; only the first ${most} were read`,
        });
      // Stage 2 (index only): the platform manifest, while the index's look-ups run.
      manifest = await session.manifest(chosen.digest);
      if (!isImageManifest(manifest))
        throw new RegistryError(
          "UNSUPPORTED_MEDIA_TYPE",
          `${ref.registry}/${ref.repository}: the ${formatPlatform(platform)} entry is a ${manifest.mediaType}, not an image manifest`,
        );
    } else {
      platform = DEFAULT_PLATFORM;
      platforms = [];
    }
    if (manifest.digest !== top.digest) lookups.push(started(this.lookups(session, manifest.digest)));

    // Last stage: the config, while the look-ups finish.
    const configDescriptor = manifest.json.config!;
    if (configDescriptor.mediaType !== MEDIA.ociConfig && configDescriptor.mediaType !== MEDIA.dockerConfig)
      throw new RegistryError(
        "UNSUPPORTED_MEDIA_TYPE",
        `${ref.registry}/${ref.repository}: not a container image (config type ${String(configDescriptor.mediaType)})`,
      );
    const configBytes = await session.blob(configDescriptor, LIMITS.configBytes);
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(configBytes.toString("utf8")) as Record<string, unknown>;
      if (!config || typeof config !== "object" || Array.isArray(config)) throw new Error("not an object");
    } catch (err) {
      throw new RegistryError(
        "BAD_RESPONSE",
        `${ref.registry}/${ref.repository}: the image config is not a JSON object`,
        {
          cause: err,
        },
      );
    }
    const runtime = configFacts(config.config, config);
    if (!isIndex(top)) {
      platform = {
        os: runtime.os ?? "unknown",
        architecture: runtime.architecture ?? "unknown",
        ...(runtime.variant ? { variant: runtime.variant } : {}),
      };
      platforms = [platform];
      // Asked for explicitly, a platform is a requirement, for a single-platform image as for an index.
      if (options.strictPlatform && options.platform && !platformMatches(platform, options.platform))
        throw new RegistryError(
          "PLATFORM_NOT_FOUND",
          `${ref.registry}/${ref.repository}: the image is single-platform ${formatPlatform(platform)}, not ${formatPlatform(options.platform)} as asked`,
        );
    }

    const found = mergeFound(await Promise.all(lookups));
    const layers = (manifest.json.layers ?? []).map((l) => ({
      digest: l.digest,
      size: l.size,
      ...(typeof l.mediaType === "string" ? { mediaType: l.mediaType } : {}),
    }));
    const facts: ImageFacts = {
      reference: ref,
      source: "registry",
      digest: top.digest,
      mediaType: top.mediaType,
      manifestDigest: manifest.digest,
      manifestMediaType: manifest.mediaType,
      configDigest: configDescriptor.digest,
      platform,
      platforms,
      config: runtime,
      history: historyFacts(config.history),
      layers,
      compressedSize: layers.reduce((sum, l) => sum + l.size, 0),
      annotations: stringRecord(manifest.json.annotations),
      indexAnnotations: isIndex(top) ? stringRecord(top.json.annotations) : {},
      signatures: found.signatures,
      attestations: found.attestations,
      incomplete: [],
      stats: ctx.stats.snapshot(0),
    };
    const registryInfo: NonNullable<ImageFacts["registryInfo"]> = {};
    const tagList = tags ? await tags : undefined;
    if (tagList) {
      registryInfo.tags = tagList.tags;
      if (tagList.truncated) registryInfo.tagsTruncated = true;
    }
    if (tagDigest) {
      try {
        const current = await tagDigest;
        if (current) registryInfo.tagDigest = current;
      } catch (err) {
        if (isCoded(err, ...FATAL)) throw err;
        incomplete.push(incompleteFrom("tags", err));
      }
    }
    if (session.client.rateLimit) registryInfo.rateLimit = session.client.rateLimit;
    if (Object.keys(registryInfo).length) facts.registryInfo = registryInfo;
    if (notary) facts.notary = await notary;
    facts.incomplete = uniqueParts([...incomplete, ...found.incomplete]);
    if (facts.notary?.error) facts.incomplete.push({ part: "notary", ...facts.notary.error });
    facts.stats = ctx.stats.snapshot(Math.round(elapsed()));
    return facts;
  }

  /**
   * Look up signatures and attestations for `digests` of the image `ref` names (the engine source
   * uses this for images it found locally). Look-up failures are returned in `incomplete`;
   * DIGEST_MISMATCH and ABORTED are thrown.
   */
  async findArtifacts(
    ref: ImageReference,
    digests: string[],
    signal?: AbortSignal,
  ): Promise<FoundArtifacts & { stats: ImageFacts["stats"] }> {
    const startedAt = performance.now();
    const ctx: RequestContext = { stats: new StatsRecorder(), ...(signal ? { signal } : {}) };
    const session = this.session(ref, ctx);
    const unique = [...new Set(digests)];
    const found = mergeFound(await Promise.all(unique.map((d) => started(this.lookups(session, d)))));
    return { ...found, stats: ctx.stats.snapshot(Math.round(performance.now() - startedAt)) };
  }

  /** Every look-up for one subject digest, in parallel. */
  private async lookups(session: Session, digest: string): Promise<FoundArtifacts> {
    const found: FoundArtifacts = { signatures: [], attestations: [], incomplete: [] };
    const guarded = async <T>(part: IncompletePart["part"], work: Promise<T>): Promise<T | undefined> => {
      try {
        return await work;
      } catch (err) {
        if (isCoded(err, ...FATAL)) throw err;
        found.incomplete.push(incompleteFrom(part, err));
        return undefined;
      }
    };
    const [sig, att, refs] = await Promise.all([
      guarded("signatures", this.cosignTag(session, digest, ".sig")),
      guarded("attestations", this.cosignTag(session, digest, ".att")),
      guarded("referrers", this.referrers(session, digest)),
    ]);
    for (const part of [sig, att, refs]) {
      if (!part) continue;
      found.signatures.push(...part.signatures);
      found.attestations.push(...part.attestations);
    }
    if (refs) found.incomplete.push(...refs.incomplete);
    return found;
  }

  /** cosign's classic tags: `sha256-<hex>.sig` (signatures) and `.att` (attestations), each one GET (Session.artifactManifestAtTag). */
  private async cosignTag(
    session: Session,
    digest: string,
    suffix: ".sig" | ".att",
  ): Promise<Omit<FoundArtifacts, "incomplete">> {
    const none = { signatures: [], attestations: [] };
    const tag = digestTag(digest, suffix);
    const manifest = await session.artifactManifestAtTag(tag);
    if (!manifest || !isImageManifest(manifest)) return none;
    const blobs = await session.artifactBlobs(manifest);
    const common = {
      foundVia: `tag:${tag}`,
      manifestDigest: manifest.digest,
      subjectDigest: digest,
      manifestAnnotations: stringRecord(manifest.json.annotations),
      blobs,
      ...(typeof manifest.json.artifactType === "string" ? { artifactType: manifest.json.artifactType } : {}),
    };
    if (suffix === ".sig") return { signatures: [{ kind: "cosign", ...common }], attestations: [] };
    return {
      signatures: [],
      attestations: [
        {
          kind: "cosign-att",
          predicateTypes: announcedPredicates(common.manifestAnnotations, blobs),
          ...common,
        },
      ],
    };
  }

  /**
   * OCI referrers of `digest`: the referrers API, or the fallback tag `sha256-<hex>` when the
   * registry has no API (distribution spec, "Referrers Tag Schema"). While it is not yet known
   * whether the registry has the API, both are asked at once, which saves a stage on registries
   * without it (Debian's 2.8, many mirrors) and costs one HEAD on those with it.
   */
  private async referrers(session: Session, digest: string): Promise<FoundArtifacts> {
    const registry = session.client;
    const key = registry.base.origin;
    const fallbackTag = digestTag(digest);
    const fallback = async (): Promise<Descriptor[]> => {
      const index = await session.artifactManifestAtTag(fallbackTag, ARTIFACT_LIMITS.fallbackIndexBytes);
      return index && isIndex(index) ? (index.json.manifests ?? []) : [];
    };
    const api = () => registry.getReferrers(session.repository, digest, session.ctx);
    let descriptors: Descriptor[];
    let via: string;
    const known = this.referrersApi.get(key);
    if (known === false) {
      descriptors = await fallback();
      via = `fallback-index:${fallbackTag}`;
    } else if (known === true) {
      const answer = await api();
      if (answer) {
        descriptors = answer;
        via = "referrers";
      } else {
        this.referrersApi.set(key, false);
        descriptors = await fallback();
        via = `fallback-index:${fallbackTag}`;
      }
    } else {
      const fromFallback = started(fallback());
      const answer = await api();
      this.referrersApi.set(key, answer !== null);
      if (answer) {
        descriptors = answer;
        via = "referrers";
      } else {
        descriptors = await fromFallback;
        via = `fallback-index:${fallbackTag}`;
      }
    }
    const seen = new Set<string>();
    const wanted = descriptors.filter((d) => {
      if (seen.has(d.digest) || referrerKind(d.artifactType) === "ignore") return false;
      seen.add(d.digest);
      return true;
    });
    const out: FoundArtifacts = { signatures: [], attestations: [], incomplete: [] };
    const { referrersPerSubject: most } = ARTIFACT_LIMITS;
    if (wanted.length > most)
      out.incomplete.push({
        part: "referrers",
        code: "TOO_LARGE",
        message: `${session.repository}: ${wanted.length} referrers of ${digest}; only the first ${most} were read`,
      });
    // One referrer that cannot be read (past the budget, say) does not lose the others.
    const results = await Promise.all(
      wanted.slice(0, most).map((d) =>
        this.referrer(session, d, digest, via).catch((err: unknown) => {
          if (isCoded(err, ...FATAL)) throw err;
          out.incomplete.push(incompleteFrom(referrerPart(d), err));
          return undefined;
        }),
      ),
    );
    for (const r of results) {
      if (!r) continue;
      if ("predicateTypes" in r) out.attestations.push(r);
      else out.signatures.push(r);
    }
    return out;
  }

  private async referrer(
    session: Session,
    descriptor: Descriptor,
    subject: string,
    via: string,
  ): Promise<SignatureArtifact | AttestationArtifact | undefined> {
    // A referrers listing is the registry's word, not covered by a digest: its size only caps.
    const manifest = await session.artifactManifest(descriptor.digest, { max: descriptor.size });
    if (!isImageManifest(manifest)) return undefined;
    // A referrer names its subject; one naming another image is not ours, whatever the listing says.
    if (manifest.json.subject?.digest && manifest.json.subject.digest !== subject) return undefined;
    const artifactType =
      descriptor.artifactType ?? manifest.json.artifactType ?? manifest.json.config?.mediaType;
    const kind = referrerKind(artifactType);
    if (kind === "ignore" || kind === "unknown") return undefined;
    if (kind === "openvex") return this.openvexReferrer(session, manifest, subject, via);
    const blobs = await session.artifactBlobs(manifest);
    const manifestAnnotations = stringRecord(manifest.json.annotations);
    const common = {
      foundVia: via,
      manifestDigest: manifest.digest,
      subjectDigest: subject,
      manifestAnnotations,
      blobs,
      ...(artifactType ? { artifactType } : {}),
    };
    if (kind === "notation") return { kind: "notation", ...common };
    if (kind === "sigstore-bundle") {
      const predicate = bundleAttestationPredicate(manifestAnnotations, blobs);
      if (!predicate) return { kind: "sigstore-bundle", ...common };
      return { kind: "referrer", predicateTypes: [predicate], ...common };
    }
    return { kind: "referrer", predicateTypes: announcedPredicates(manifestAnnotations, blobs), ...common };
  }

  /**
   * An OpenVEX document attached as a referrer of its own type. The listing's artifactType only
   * chose to fetch it: the manifest itself (covered by its digest) must say it is OpenVEX and name
   * this subject, and only its OpenVEX layers are read. It carries no signature of its own, so the
   * vulnerability layer treats it as unsigned.
   */
  private async openvexReferrer(
    session: Session,
    manifest: FetchedManifest,
    subject: string,
    via: string,
  ): Promise<AttestationArtifact | undefined> {
    const declared = manifest.json.artifactType ?? manifest.json.config?.mediaType;
    if (manifest.json.subject?.digest !== subject || referrerKind(declared) !== "openvex") return undefined;
    const vexLayers = (manifest.json.layers ?? []).filter((l) => l.mediaType === ARTIFACT_TYPES.openvex);
    const blobs = await session.artifactBlobs({ ...manifest, json: { ...manifest.json, layers: vexLayers } });
    return {
      kind: "referrer",
      foundVia: via,
      manifestDigest: manifest.digest,
      subjectDigest: subject,
      artifactType: ARTIFACT_TYPES.openvex,
      predicateTypes: [],
      manifestAnnotations: stringRecord(manifest.json.annotations),
      blobs,
    };
  }

  /** A BuildKit attestation manifest from the index, with its in-toto statements. */
  private async buildkit(session: Session, indexDigest: string, entry: Descriptor): Promise<FoundArtifacts> {
    const found: FoundArtifacts = { signatures: [], attestations: [], incomplete: [] };
    try {
      const manifest = await session.artifactManifest(entry.digest, { declared: entry.size });
      if (!isImageManifest(manifest)) return found;
      const blobs = await session.artifactBlobs(manifest);
      const manifestAnnotations = stringRecord(manifest.json.annotations);
      found.attestations.push({
        kind: "buildkit",
        foundVia: `index:${indexDigest}`,
        manifestDigest: manifest.digest,
        subjectDigest: entry.annotations?.["vnd.docker.reference.digest"] ?? "",
        predicateTypes: announcedPredicates(manifestAnnotations, blobs),
        manifestAnnotations,
        blobs,
      });
    } catch (err) {
      if (isCoded(err, ...FATAL)) throw err;
      found.incomplete.push(incompleteFrom("attestations", err));
    }
    return found;
  }

  private notaryFor(ref: ImageReference): { registry: string; server: string } | undefined {
    return this.notary.find((n) => sameHost(n.registry, ref.registry));
  }

  /** Legacy Docker Content Trust metadata (notary v1 TUF roles). Never fails the gather. */
  private async notaryFacts(ref: ImageReference, ctx: RequestContext): Promise<NotaryFacts> {
    const entry = this.notaryFor(ref)!;
    const gun = `${ref.registry}/${ref.repository}`;
    const facts: NotaryFacts = { server: entry.server, gun };
    try {
      const server = new URL(entry.server.endsWith("/") ? entry.server : `${entry.server}/`);
      // Registry credentials are not sent to the notary server: it is another host. Anonymous tokens only.
      const auth = this.authenticator(`notary:${server.host}`, server, anonymousCredentials);
      const roles = ["root", "timestamp", "snapshot", "targets"] as const;
      const bodies = await Promise.all(
        roles.map(async (role) => {
          const response = await auth.send(
            {
              method: "GET",
              url: new URL(`v2/${gun}/_trust/tuf/${role}.json`, server),
              kind: "notary",
              maxBytes: LIMITS.manifestBytes,
            },
            `repository:${gun}:pull`,
            ctx,
          );
          if (response.status !== 200)
            throw new RegistryError(
              response.status === 404 ? "NAME_UNKNOWN" : "BAD_RESPONSE",
              `notary ${server.host}: ${role}.json for ${gun}: HTTP ${response.status}`,
              { status: response.status },
            );
          return response.body.toString("base64");
        }),
      );
      roles.forEach((role, i) => {
        facts[role] = bodies[i]!;
      });
    } catch (err) {
      if (isCoded(err, "ABORTED", "DEADLINE")) throw err;
      facts.error = { code: isCoded(err) ? err.code : "UNKNOWN", message: oneLine(err) };
    }
    return facts;
  }
}

function platformOf(p: Platform): Platform {
  return {
    os: String(p.os),
    architecture: String(p.architecture),
    ...(typeof p.variant === "string" && p.variant ? { variant: p.variant } : {}),
  };
}

/**
 * The index entry for `wanted`: same OS and architecture; the variant must match when one is
 * asked for (arm64's implicit variant is v8); without one, an entry without a variant is preferred.
 */
export function pickPlatform(entries: Descriptor[], wanted: Platform): Descriptor | undefined {
  const candidates = entries.filter((e) => e.platform && platformMatches(e.platform, wanted));
  if (wanted.variant) return candidates[0];
  return candidates.find((e) => !e.platform?.variant) ?? candidates[0];
}

/** Whether `have` is the platform `wanted` asks for: same OS and architecture, and variant when one is asked for. */
export function platformMatches(have: Platform, wanted: Platform): boolean {
  const normalizedVariant = (p: Platform) =>
    p.architecture === "arm64" && (!p.variant || p.variant === "v8") ? "v8" : p.variant;
  if (have.os !== wanted.os || have.architecture !== wanted.architecture) return false;
  return !wanted.variant || normalizedVariant(have) === normalizedVariant(wanted);
}

/** Which part a referrer that could not be read leaves incomplete, by what its listing says it is. */
function referrerPart(descriptor: Descriptor): IncompletePart["part"] {
  const kind = referrerKind(descriptor.artifactType);
  if (kind === "notation") return "signatures";
  if (kind === "in-toto" || kind === "openvex") return "attestations";
  // A Sigstore bundle (or an untyped referrer) may be either until it is read.
  return "referrers";
}

/** One entry per part and code: a budget that ran out refuses many fetches, and one line says so. */
function uniqueParts(parts: IncompletePart[]): IncompletePart[] {
  const seen = new Set<string>();
  return parts.filter((p) => {
    const key = `${p.part}|${p.code}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function mergeFound(parts: FoundArtifacts[]): FoundArtifacts {
  const out: FoundArtifacts = { signatures: [], attestations: [], incomplete: [] };
  const seen = new Set<string>();
  for (const part of parts) {
    for (const s of part.signatures) {
      const key = `${s.manifestDigest}|${s.subjectDigest}`;
      if (!seen.has(key)) out.signatures.push(s);
      seen.add(key);
    }
    for (const a of part.attestations) {
      const key = `${a.manifestDigest}|${a.subjectDigest}`;
      if (!seen.has(key)) out.attestations.push(a);
      seen.add(key);
    }
    out.incomplete.push(...part.incomplete);
  }
  out.incomplete = uniqueParts(out.incomplete);
  return out;
}
