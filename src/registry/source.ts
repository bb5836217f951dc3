/**
 * RegistrySource: gathers ImageFacts from a registry without downloading a layer.
 *
 * The order of requests is the point of this file. With a warm token, a single-platform tag costs
 * two dependent stages:
 *   1. GET the manifest (its bytes are needed, so no separate HEAD);
 *   2. in parallel: GET the config; HEAD `sha256-<hex>.sig` and `.att`; the referrers API and/or
 *      HEAD of its fallback tag. Only what exists is fetched after that.
 * An index adds one stage (the platform manifest, in parallel with the index's own look-ups and
 * its BuildKit attestation manifests). Within one gather nothing is fetched twice (every manifest,
 * HEAD and blob is memoized by reference or digest).
 *
 * A failure looking up signatures or attestations, once the image itself was read, is recorded in
 * `facts.incomplete`; a DIGEST_MISMATCH anywhere fails the gather, since it means the registry
 * (or something between) serves content that is not what it claims.
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
import { effectiveTag } from "../reference/parse.js";
import type { ImageReference } from "../reference/types.js";
import {
  ARTIFACT_LIMITS,
  announcedPredicates,
  bundleAttestationPredicate,
  digestTag,
  isAttestationEntry,
  isBuildkitAttestationFor,
  referrerKind,
} from "./artifacts.js";
import { Authenticator, MemoryTokenCache, type TokenCache } from "./auth.js";
import {
  type Descriptor,
  type FetchedManifest,
  isImageManifest,
  isIndex,
  MEDIA,
  RegistryClient,
  registryBaseUrl,
} from "./client.js";
import { anonymousCredentials, type CredentialStore } from "./credentials.js";
import { RegistryError } from "./errors.js";
import { AddressGuard, type Resolver } from "./guard.js";
import { configFacts, historyFacts } from "./image-config.js";
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
}

/** What a look-up for signatures and attestations found. */
export interface FoundArtifacts {
  signatures: SignatureArtifact[];
  attestations: AttestationArtifact[];
  incomplete: IncompletePart[];
}

/** Codes that fail a gather even when they happen during a look-up. */
const FATAL = ["DIGEST_MISMATCH", "ABORTED"] as const;

const noop = () => {};

/** Mark a promise's rejection as handled now; it is awaited (and rethrown) later. */
function started<T>(p: Promise<T>): Promise<T> {
  p.catch(noop);
  return p;
}

function incompleteFrom(part: IncompletePart["part"], err: unknown): IncompletePart {
  return { part, code: isCoded(err) ? err.code : "UNKNOWN", message: oneLine(err) };
}

/** One gather's view of one repository: memoized requests, shared stats. */
class Session {
  private readonly manifests = new Map<string, Promise<FetchedManifest>>();
  private readonly heads = new Map<string, Promise<Descriptor | null>>();
  private readonly blobs = new Map<string, Promise<Buffer>>();

  constructor(
    readonly client: RegistryClient,
    readonly repository: string,
    readonly ctx: RequestContext,
  ) {}

  manifest(reference: string): Promise<FetchedManifest> {
    let p = this.manifests.get(reference);
    if (!p) {
      p = started(this.client.getManifest(this.repository, reference, this.ctx));
      this.manifests.set(reference, p);
      p.then((m) => {
        if (!this.manifests.has(m.digest)) this.manifests.set(m.digest, p!);
      }, noop);
    }
    return p;
  }

  head(tag: string): Promise<Descriptor | null> {
    let p = this.heads.get(tag);
    if (!p) {
      p = started(this.client.headManifest(this.repository, tag, this.ctx));
      this.heads.set(tag, p);
    }
    return p;
  }

  blob(descriptor: Descriptor, maxBytes: number): Promise<Buffer> {
    let p = this.blobs.get(descriptor.digest);
    if (!p) {
      // The manifest's size is checked first: a blob declared too large is never requested.
      p =
        descriptor.size > maxBytes
          ? Promise.reject(
              new RegistryError(
                "TOO_LARGE",
                `${this.repository} blob ${descriptor.digest}: declared ${descriptor.size} bytes, over the ${maxBytes}-byte cap`,
              ),
            )
          : this.client.getBlob(this.repository, descriptor.digest, maxBytes, this.ctx);
      started(p);
      this.blobs.set(descriptor.digest, p);
    }
    return p;
  }

  /** The blobs of an artifact manifest, as the facts keep them. */
  async artifactBlobs(manifest: FetchedManifest): Promise<FetchedBlob[]> {
    const layers = (manifest.json.layers ?? []).slice(0, ARTIFACT_LIMITS.blobsPerArtifact);
    return Promise.all(
      layers.map(async (layer) => ({
        mediaType: typeof layer.mediaType === "string" ? layer.mediaType : "",
        digest: layer.digest,
        size: layer.size,
        annotations: stringRecord(layer.annotations),
        data: (await this.blob(layer, LIMITS.artifactBytes)).toString("base64"),
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
    return new Session(client, ref.repository, ctx);
  }

  /** Gather the facts of the image `ref` names. */
  async gather(ref: ImageReference, options: GatherOptions = {}): Promise<ImageFacts> {
    const startedAt = performance.now();
    const internal = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, internal.signal]) : internal.signal;
    const stats = new StatsRecorder();
    const ctx: RequestContext = { stats, signal };
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

    // Stage 1: what the reference resolves to.
    const top = await session.manifest(reference);

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
      for (const entry of top.json.manifests ?? [])
        if (isBuildkitAttestationFor(entry, chosen.digest))
          lookups.push(started(this.buildkit(session, top.digest, entry)));
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
    if (tagList) registryInfo.tags = tagList;
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
    facts.incomplete = [...incomplete, ...found.incomplete];
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
    return found;
  }

  /** cosign's classic tags: `sha256-<hex>.sig` (signatures) and `.att` (attestations). HEAD first; GET only what exists. */
  private async cosignTag(
    session: Session,
    digest: string,
    suffix: ".sig" | ".att",
  ): Promise<Omit<FoundArtifacts, "incomplete">> {
    const none = { signatures: [], attestations: [] };
    const tag = digestTag(digest, suffix);
    const head = await session.head(tag);
    if (!head) return none;
    const manifest = await session.manifest(head.digest || tag);
    if (!isImageManifest(manifest)) return none;
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
  private async referrers(session: Session, digest: string): Promise<Omit<FoundArtifacts, "incomplete">> {
    const registry = session.client;
    const key = registry.base.origin;
    const fallbackTag = digestTag(digest);
    const fallback = async (): Promise<Descriptor[]> => {
      const head = await session.head(fallbackTag);
      if (!head) return [];
      const index = await session.manifest(head.digest || fallbackTag);
      return isIndex(index) ? (index.json.manifests ?? []) : [];
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
    const results = await Promise.all(
      wanted.slice(0, ARTIFACT_LIMITS.referrersPerSubject).map((d) => this.referrer(session, d, digest, via)),
    );
    const out: Omit<FoundArtifacts, "incomplete"> = { signatures: [], attestations: [] };
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
    const manifest = await session.manifest(descriptor.digest);
    if (!isImageManifest(manifest)) return undefined;
    // A referrer names its subject; one naming another image is not ours, whatever the listing says.
    if (manifest.json.subject?.digest && manifest.json.subject.digest !== subject) return undefined;
    const artifactType =
      descriptor.artifactType ?? manifest.json.artifactType ?? manifest.json.config?.mediaType;
    const kind = referrerKind(artifactType);
    if (kind === "ignore" || kind === "unknown") return undefined;
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

  /** A BuildKit attestation manifest from the index, with its in-toto statements. */
  private async buildkit(session: Session, indexDigest: string, entry: Descriptor): Promise<FoundArtifacts> {
    const found: FoundArtifacts = { signatures: [], attestations: [], incomplete: [] };
    try {
      const manifest = await session.manifest(entry.digest);
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
    return this.notary.find((n) => n.registry.toLowerCase() === ref.registry);
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
      if (isCoded(err, "ABORTED")) throw err;
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
  const normalizedVariant = (p: Platform) =>
    p.architecture === "arm64" && (!p.variant || p.variant === "v8") ? "v8" : p.variant;
  const candidates = entries.filter(
    (e) => e.platform?.os === wanted.os && e.platform?.architecture === wanted.architecture,
  );
  if (wanted.variant)
    return candidates.find((e) => normalizedVariant(e.platform!) === normalizedVariant(wanted));
  return candidates.find((e) => !e.platform?.variant) ?? candidates[0];
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
  return out;
}
