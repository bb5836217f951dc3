/**
 * The one fact model (STYLE.md, convention 1). The registry client and the dockerode adapter both
 * produce ImageFacts; checks, trust and policy read only this. Everything here is plain,
 * JSON-serializable data, so facts can cross a worker boundary and be stored as they are.
 * Bytes fetched for later verification are kept as base64 strings.
 */
import type { ImageReference } from "../reference/types.js";

/** Which gatherer produced the facts. */
export type FactsSource = "registry" | "engine";

/** An OCI platform (image-spec image-index.md, "platform"). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A HEALTHCHECK as recorded in the config. */
export interface Healthcheck {
  test: string[];
  intervalNs?: number;
  timeoutNs?: number;
  retries?: number;
  startPeriodNs?: number;
}

/** The runtime configuration an image carries (image-spec config.md, "config"). */
export interface ImageConfigFacts {
  /** As written: empty string when unset (which means root). */
  user: string;
  /** `KEY=value` strings, in order. */
  env: string[];
  labels: Record<string, string>;
  /** e.g. `80/tcp`. */
  exposedPorts: string[];
  volumes: string[];
  healthcheck: Healthcheck | null;
  entrypoint: string[] | null;
  cmd: string[] | null;
  workingDir: string;
  stopSignal?: string;
  /** RFC 3339, from the config's top-level `created`. */
  created?: string;
  author?: string;
  os?: string;
  architecture?: string;
  variant?: string;
}

/** One build step of the config's history. */
export interface HistoryEntry {
  created?: string;
  createdBy: string;
  comment?: string;
  author?: string;
  emptyLayer: boolean;
}

/** One layer: only its descriptor is known, never its bytes (no layer is downloaded). */
export interface LayerFacts {
  digest: string;
  /** Compressed size from the manifest (registry), or the uncompressed diff size where only that is known (engine). */
  size: number;
  mediaType?: string;
}

/** A blob or manifest fetched for later verification, with the digest it was verified against. */
export interface FetchedBlob {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
  /** base64 of the exact bytes fetched (verified to hash to `digest`). Empty when `omitted`. */
  data: string;
  /** Set on printed facts: the bytes were left out (they may hold build arguments, i.e. secrets). */
  omitted?: true;
}

/**
 * A signature found for the image, as fetched. The trust layer verifies it later.
 * - `cosign`: a classic cosign `sha256-<hex>.sig` manifest; each layer is a simple-signing payload
 *   whose annotations carry `dev.cosignproject.cosign/signature` (and maybe certificate, chain, bundle).
 * - `sigstore-bundle`: a cosign 3 / Sigstore bundle stored as an OCI referrer (or in the
 *   `sha256-<hex>` fallback index); `blobs` holds the bundle JSON layer.
 * - `notation`: a Notary Project signature referrer; `blobs` holds the envelope (JWS or COSE).
 */
export interface SignatureArtifact {
  kind: "cosign" | "sigstore-bundle" | "notation";
  /** Where it was found: `tag:sha256-<hex>.sig`, `referrers`, `fallback-index:sha256-<hex>`. */
  foundVia: string;
  /** Digest of the signature manifest itself. */
  manifestDigest: string;
  /** The image digest the signature was looked up for (index or platform manifest). */
  subjectDigest: string;
  artifactType?: string;
  manifestAnnotations: Record<string, string>;
  blobs: FetchedBlob[];
}

/**
 * An attestation found for the image, as fetched.
 * - `buildkit`: an attestation manifest inside the image index (`vnd.docker.reference.type: attestation-manifest`);
 *   blobs are in-toto statements (predicate type in the layer annotation `in-toto.io/predicate-type`).
 * - `cosign-att`: a cosign `sha256-<hex>.att` manifest; blobs are DSSE envelopes.
 * - `referrer`: any other referrer whose artifact type or layers are in-toto (e.g. a Sigstore bundle with a DSSE statement).
 */
export interface AttestationArtifact {
  kind: "buildkit" | "cosign-att" | "referrer";
  foundVia: string;
  manifestDigest: string;
  subjectDigest: string;
  artifactType?: string;
  /** Predicate types announced by annotations before the blobs were read (may be empty). */
  predicateTypes: string[];
  manifestAnnotations: Record<string, string>;
  blobs: FetchedBlob[];
}

/** Legacy Docker Content Trust (Notary v1) TUF metadata fetched from the notary server the policy names. */
export interface NotaryFacts {
  server: string;
  gun: string;
  /** base64 of each role's signed metadata JSON as served. */
  root?: string;
  timestamp?: string;
  snapshot?: string;
  targets?: string;
  /** Set when the server could not be asked (the trust layer then reports DCT as unverified). */
  error?: { code: string; message: string };
}

/** Docker Hub's rate-limit headers (`ratelimit-limit`, `ratelimit-remaining`, `docker-ratelimit-source`). */
export interface RateLimitFacts {
  limit?: string;
  remaining?: string;
  source?: string;
}

/** What Docker Hub says about the repository's publisher (from its search/repository API). */
export interface HubFacts {
  /** `official`, `verified_publisher`, `open_source` (sponsored OSS), or absent. */
  badge?: string;
  official?: boolean;
  lastUpdated?: string;
  pullCount?: number;
  starCount?: number;
  description?: string;
  /** Set when Hub could not be asked; the publisher is then `unknown`. */
  error?: { code: string; message: string };
}

/** A container running (or stopped) from this image in the engine, with `top` when it runs. */
export interface ContainerFacts {
  id: string;
  names: string[];
  state: string;
  /** Process table from `top`: column titles and rows. */
  top?: { titles: string[]; processes: string[][] };
}

/** A part of gathering that failed without failing the whole gather. */
export interface IncompletePart {
  part:
    | "signatures"
    | "attestations"
    | "referrers"
    | "notary"
    | "hub"
    | "engine"
    | "tags"
    | "config"
    | "manifest"
    /** Read, but cut to the checks' limits: the rest was not checked. */
    | "limits";
  code: string;
  message: string;
}

/** Cost of gathering, for benchmarks and the report. */
export interface GatherStats {
  /** HTTP round trips to registries, token services and notary servers (engine API calls for `engine`). */
  requests: number;
  /** Response body bytes read. */
  bytes: number;
  durationMs: number;
  /** Round trips by kind, e.g. `{ "GET manifest": 1, "GET blob": 1, "HEAD manifest": 2, "GET token": 1 }`. */
  byKind: Record<string, number>;
}

/** Everything gathered about one image. */
export interface ImageFacts {
  reference: ImageReference;
  source: FactsSource;
  /** What the reference resolves to (index or manifest); the digest an approval binds to. */
  digest?: string;
  /** Media type of what `digest` names. */
  mediaType?: string;
  /** The platform manifest's digest (equal to `digest` for a single-platform image). */
  manifestDigest?: string;
  manifestMediaType?: string;
  configDigest: string;
  /** The platform chosen, from the index entry or the config. */
  platform: Platform;
  /** Every platform the index offers (just the one for a single-platform image). */
  platforms: Platform[];
  config: ImageConfigFacts;
  history: HistoryEntry[];
  layers: LayerFacts[];
  /** Sum of layer sizes (compressed, from the manifest). */
  compressedSize?: number;
  /** Annotations of the platform manifest. */
  annotations: Record<string, string>;
  /** Annotations of the index, when the reference resolved to one. */
  indexAnnotations: Record<string, string>;
  signatures: SignatureArtifact[];
  attestations: AttestationArtifact[];
  notary?: NotaryFacts;
  hub?: HubFacts;
  registryInfo?: {
    rateLimit?: RateLimitFacts;
    /** The tag list, only when asked for. */
    tags?: string[];
    /** The registry has more tags than were listed (a limit of LIMITS in src/registry/transport.ts was reached). */
    tagsTruncated?: boolean;
    /** For `name:tag@digest`: what the tag resolves to now (for `tag.digest-conflict`). */
    tagDigest?: string;
  };
  engineInfo?: {
    id: string;
    repoTags: string[];
    repoDigests: string[];
    containers: ContainerFacts[];
    apiVersion?: string;
  };
  /** Parts that could not be gathered. A non-empty list makes the report add `check.incomplete`. */
  incomplete: IncompletePart[];
  stats: GatherStats;
}

/** Options every ImageSource takes. */
export interface GatherOptions {
  /** Platform to pick from a multi-arch index; default linux/amd64. */
  platform?: Platform;
  /** Abort everything (per-job timeout, shutdown). */
  signal?: AbortSignal;
  /** Also list the repository's tags (one more request). */
  listTags?: boolean;
  /**
   * The whole gather's time limit (policy `limits.checkSeconds`): every request, body, wait,
   * retry and Retry-After together. Past it, or when a wait would end past it, the gather fails
   * with DEADLINE. Unlimited when absent.
   */
  timeLimitMs?: number;
  /**
   * The platform was asked for explicitly (`--platform`): a single-platform image of another
   * platform is PLATFORM_NOT_FOUND, as an index without it is, rather than checked in its place.
   */
  strictPlatform?: boolean;
  /**
   * The digest a tag reference is expected to still name (a re-check of an approved digest). A
   * source that holds that manifest may ask the registry whether it changed (`If-None-Match`)
   * instead of downloading it again; the facts are the same either way.
   */
  knownDigest?: string;
}

/** A gatherer of facts: the registry client or the Docker engine. */
export interface ImageSource {
  readonly kind: FactsSource;
  gather(ref: ImageReference, options?: GatherOptions): Promise<ImageFacts>;
}

/** Codes a gather can fail with (the registry and engine modules throw CodedError with these). */
export type GatherErrorCode =
  | "UNAUTHORIZED"
  | "DENIED"
  | "NAME_UNKNOWN"
  | "NAME_INVALID"
  | "MANIFEST_UNKNOWN"
  | "BLOB_UNKNOWN"
  | "TOO_MANY_REQUESTS"
  | "DIGEST_MISMATCH"
  | "TOO_LARGE"
  | "BLOCKED_ADDRESS"
  | "INSECURE_REFUSED"
  | "TIMEOUT"
  /** The check's overall deadline (policy `limits.checkSeconds`) passed: not retried. */
  | "DEADLINE"
  | "ABORTED"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "PLATFORM_NOT_FOUND"
  | "BAD_RESPONSE"
  | "REDIRECT_REFUSED"
  | "NETWORK"
  | "SERVER_ERROR"
  | "CREDENTIALS"
  | "ENGINE_UNAVAILABLE"
  | "IMAGE_NOT_IN_ENGINE";

/** Parse `os/arch[/variant]`. Returns null when malformed. */
export function parsePlatform(text: string): Platform | null {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) return null;
  const [os, architecture, variant] = parts as [string, string, string?];
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** The default platform picked from a multi-arch index (the most common server platform). */
export const DEFAULT_PLATFORM: Platform = { os: "linux", architecture: "amd64" };
