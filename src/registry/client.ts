/**
 * The OCI distribution client for one registry (https://github.com/opencontainers/distribution-spec/blob/main/spec.md):
 * manifests by tag or digest, blobs, the tag list and the referrers API. Every manifest and blob
 * is hashed and compared with the digest asked for, or, for a tag, with the registry's
 * Docker-Content-Digest (STYLE.md, convention 4); a mismatch is DIGEST_MISMATCH.
 */
import { createHash } from "node:crypto";
import { isCoded } from "../errors.js";
import type { Platform, RateLimitFacts } from "../facts/model.js";
import { type Authenticator, pullScope } from "./auth.js";
import { RegistryError } from "./errors.js";
import {
  errorFor,
  headerText,
  LIMITS,
  type RequestContext,
  type RequestSpec,
  type Response,
  type Transport,
} from "./transport.js";

/** Media types this client reads (image-spec media-types.md; Docker's image manifest v2 schema 2). */
export const MEDIA = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

/**
 * The Accept header of every manifest request. All four are named: Debian's registry 2.8 answers
 * MANIFEST_UNKNOWN for an OCI manifest unless its type is accepted, and Docker Hub falls back to a
 * single-platform schema 2 manifest when the list types are missing.
 */
export const MANIFEST_ACCEPT = [
  MEDIA.ociIndex,
  MEDIA.ociManifest,
  MEDIA.dockerList,
  MEDIA.dockerManifest,
].join(", ");

const INDEX_TYPES = new Set<string>([MEDIA.ociIndex, MEDIA.dockerList]);
const IMAGE_MANIFEST_TYPES = new Set<string>([MEDIA.ociManifest, MEDIA.dockerManifest]);

/** A content descriptor (image-spec descriptor.md). Fields are as the registry sent them: check before use. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform & { "os.version"?: string; "os.features"?: string[] };
  artifactType?: string;
}

/** The parts of a manifest or index this client reads. */
export interface ManifestJson {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** A manifest or index fetched and verified. */
export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: ManifestJson;
  /** The registry answered 304 to a conditional GET: `bytes` are the caller's, verified again. */
  notModified?: true;
}

/** A manifest the caller already holds (verified when it was fetched), by its digest. */
export interface KnownManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** Whether a fetched manifest is an index (OCI index or Docker manifest list). */
export function isIndex(m: FetchedManifest): boolean {
  return INDEX_TYPES.has(m.mediaType);
}

/** Whether a fetched manifest is a single-platform image manifest. */
export function isImageManifest(m: FetchedManifest): boolean {
  return IMAGE_MANIFEST_TYPES.has(m.mediaType);
}

/** `algorithm:hex` of `bytes` (sha256 or sha512). */
export function digestOf(bytes: Buffer, algorithm = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}

/** Throw DIGEST_MISMATCH unless `bytes` hash to `expected`. */
export function verifyDigest(bytes: Buffer, expected: string, what: string): void {
  const algorithm = expected.slice(0, expected.indexOf(":"));
  if (algorithm !== "sha256" && algorithm !== "sha512")
    throw new RegistryError("DIGEST_MISMATCH", `${what}: cannot verify digest algorithm "${algorithm}"`);
  const actual = digestOf(bytes, algorithm);
  if (actual !== expected)
    throw new RegistryError(
      "DIGEST_MISMATCH",
      `${what}: content hashes to ${actual}, not ${expected} as asked`,
    );
}

/**
 * How large a body may be. `declared`: the size a descriptor gives, covered by the digest of what
 * named it; content is identified by digest and size together (image-spec descriptor.md), so a
 * body of any other size is not the content described: DIGEST_MISMATCH, as go-containerregistry's
 * verifying reader holds. `max`: only a cap (a HEAD's Content-Length, a fixed limit); past it is
 * TOO_LARGE.
 */
export type SizeLimit = { declared: number } | { max: number };

/** The cap a size limit puts on a body. */
export function capOf(size: SizeLimit): number {
  return "declared" in size ? size.declared : size.max;
}

function sizeMismatch(what: string, declared: number, served: string): RegistryError {
  return new RegistryError("DIGEST_MISMATCH", `${what}: served ${served}, not ${declared} as declared`);
}

/** Run a request capped by `size`, holding the body to a declared size. */
async function sized(what: string, size: SizeLimit, request: () => Promise<Response>): Promise<Response> {
  let response: Response;
  try {
    response = await request();
  } catch (err) {
    if ("declared" in size && isCoded(err, "TOO_LARGE"))
      throw sizeMismatch(what, size.declared, "more bytes");
    throw err;
  }
  const ok = response.status >= 200 && response.status < 300;
  if (ok && "declared" in size && response.body.length !== size.declared)
    throw sizeMismatch(what, size.declared, `${response.body.length} bytes`);
  return response;
}

function isDigest(reference: string): boolean {
  return /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(reference);
}

/** Validate the shape of a descriptor from untrusted JSON. */
export function checkDescriptor(d: unknown, where: string): Descriptor {
  const ok =
    d &&
    typeof d === "object" &&
    typeof (d as Descriptor).digest === "string" &&
    /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/.test((d as Descriptor).digest) &&
    typeof (d as Descriptor).size === "number" &&
    Number.isSafeInteger((d as Descriptor).size) &&
    (d as Descriptor).size >= 0;
  if (!ok) throw new RegistryError("BAD_RESPONSE", `${where}: a descriptor without a valid digest and size`);
  return d as Descriptor;
}

/** Options of a client. */
export interface RegistryClientOptions {
  /** The registry as references name it. */
  registry: string;
  /** `https://host[:port]` (or http for an allowed insecure registry). */
  base: URL;
  transport: Transport;
  auth: Authenticator;
  now: () => number;
}

/** Talks to one registry. Stateless apart from the last Docker Hub rate-limit headers seen. */
export class RegistryClient {
  /** Docker Hub's rate-limit headers from the last manifest answer that carried them. */
  rateLimit: RateLimitFacts | undefined;

  constructor(private readonly options: RegistryClientOptions) {}

  /** The registry's base URL. */
  get base(): URL {
    return this.options.base;
  }

  private url(path: string): URL {
    return new URL(path, this.options.base);
  }

  /** Send a pull request for `repository` (authorized for its pull scope). */
  private pull(repository: string, spec: RequestSpec, ctx: RequestContext): Promise<Response> {
    return this.options.auth.send(spec, pullScope(repository), ctx);
  }

  /** GET or HEAD a manifest, accepting every manifest type this client reads. */
  private manifestRequest(
    method: "GET" | "HEAD",
    repository: string,
    reference: string,
    ctx: RequestContext,
    maxBytes = method === "GET" ? LIMITS.manifestBytes : 0,
    ifNoneMatch?: string,
  ) {
    const url = this.url(`/v2/${repository}/manifests/${reference}`);
    const headers: Record<string, string> = { accept: MANIFEST_ACCEPT };
    if (ifNoneMatch) headers["if-none-match"] = `"${ifNoneMatch}"`;
    return this.pull(repository, { method, url, kind: "manifest", headers, maxBytes }, ctx);
  }

  private name(repository: string, what: string): string {
    return `${this.options.registry}/${repository} ${what}`;
  }

  private keepRateLimit(response: Response): void {
    const limit = headerText(response.headers["ratelimit-limit"]);
    const remaining = headerText(response.headers["ratelimit-remaining"]);
    const source = headerText(response.headers["docker-ratelimit-source"]);
    if (limit === undefined && remaining === undefined && source === undefined) return;
    this.rateLimit = {
      ...(limit !== undefined ? { limit } : {}),
      ...(remaining !== undefined ? { remaining } : {}),
      ...(source !== undefined ? { source } : {}),
    };
  }

  private fail(
    response: Response,
    what: string,
    kind: "manifest" | "blob" | "tags" | "referrers",
  ): RegistryError {
    return errorFor(what, response, kind, this.options.now());
  }

  /**
   * GET a manifest or index by tag or digest, verified, its body within `size` (at most
   * LIMITS.manifestBytes).
   *
   * `known`: a manifest the caller holds and expects the tag to still name (a re-check of an
   * approved digest). A GET by tag then carries `If-None-Match: "<digest>"` (distribution sends
   * the digest in quotes as the manifest's ETag, and answers 304 Not Modified when it matches;
   * RFC 9110 section 13.1.2), and a 304 is answered from `known`'s bytes, hashed again against its
   * digest and parsed as if just downloaded: the request is still made, so the tag's current
   * digest is the registry's word of now, only the body is not sent again. A registry that
   * ignores the header answers 200, which is read as always.
   */
  async getManifest(
    repository: string,
    reference: string,
    ctx: RequestContext,
    size: SizeLimit = { max: LIMITS.manifestBytes },
    known?: KnownManifest,
  ): Promise<FetchedManifest> {
    const found = await this.fetchManifest(repository, reference, ctx, size, false, known);
    return found!;
  }

  /**
   * GET a manifest by tag or digest like `getManifest`, but null when there is none (404): one
   * request where HEAD then GET would take two dependent round trips.
   */
  findManifest(
    repository: string,
    reference: string,
    ctx: RequestContext,
    size: SizeLimit,
  ): Promise<FetchedManifest | null> {
    return this.fetchManifest(repository, reference, ctx, size, true);
  }

  /**
   * Whether GETs of manifests are metered here, while HEADs are not: Docker Hub counts manifest
   * GETs against its pull rate limit (https://docs.docker.com/docker-hub/usage/pulls/), and any
   * registry that announced a rate limit on a manifest answer may do the same. Existence checks
   * there stay HEADs.
   */
  get metersManifestGets(): boolean {
    return this.options.registry === "docker.io" || this.rateLimit !== undefined;
  }

  private async fetchManifest(
    repository: string,
    reference: string,
    ctx: RequestContext,
    size: SizeLimit,
    missingIsNull: boolean,
    known?: KnownManifest,
  ): Promise<FetchedManifest | null> {
    const what = this.name(repository, `manifest ${reference}`);
    const cap = Math.min(capOf(size), LIMITS.manifestBytes);
    const conditional = known !== undefined && !isDigest(reference) ? known : undefined;
    const response = await sized(what, size, () =>
      this.manifestRequest("GET", repository, reference, ctx, cap, conditional?.digest),
    );
    this.keepRateLimit(response);
    if (response.status === 304 && conditional) return this.notModified(response, conditional, what);
    if (response.status === 404 && missingIsNull) return null;
    if (response.status !== 200) throw this.fail(response, `GET ${what}`, "manifest");
    const bytes = response.body;
    let digest: string;
    if (isDigest(reference)) {
      verifyDigest(bytes, reference, what);
      digest = reference;
    } else {
      const announced = headerText(response.headers["docker-content-digest"])?.trim();
      if (announced) {
        verifyDigest(bytes, announced, what);
        digest = announced;
      } else digest = digestOf(bytes);
    }
    return parseManifest(bytes, digest, headerText(response.headers["content-type"]), what);
  }

  /**
   * A 304 to a conditional GET: the tag still names `known`. Whatever the 304 says about the
   * manifest it means must agree (distribution 2.8 sends neither header on a 304; others may
   * send the ETag or Docker-Content-Digest): a 304 naming another digest contradicts itself.
   */
  private notModified(response: Response, known: KnownManifest, what: string): FetchedManifest {
    const announced = headerText(response.headers["docker-content-digest"])?.trim();
    const etag = headerText(response.headers.etag)
      ?.trim()
      .replace(/^W\//, "")
      .replace(/^"(.*)"$/, "$1");
    for (const named of [announced, etag])
      if (named && named !== known.digest)
        throw new RegistryError(
          "BAD_RESPONSE",
          `GET ${what}: 304 Not Modified for ${known.digest}, yet it names ${named}`,
        );
    verifyDigest(known.bytes, known.digest, what);
    return { ...parseManifest(known.bytes, known.digest, known.mediaType, what), notModified: true };
  }

  /**
   * HEAD a manifest: its descriptor, or null when there is none (404). HEAD is the cheap
   * existence check (Docker Hub does not count it against the pull rate limit). `digest` is empty
   * when the registry did not send Docker-Content-Digest; GET by tag then.
   */
  async headManifest(repository: string, reference: string, ctx: RequestContext): Promise<Descriptor | null> {
    const what = this.name(repository, `manifest ${reference}`);
    const response = await this.manifestRequest("HEAD", repository, reference, ctx);
    this.keepRateLimit(response);
    if (response.status === 404) return null;
    if (response.status !== 200) throw this.fail(response, `HEAD ${what}`, "manifest");
    const digest = headerText(response.headers["docker-content-digest"])?.trim() ?? "";
    return {
      mediaType: (headerText(response.headers["content-type"]) ?? "").split(";")[0]!.trim(),
      digest: /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/.test(digest) ? digest : "",
      size: Number(headerText(response.headers["content-length"]) ?? 0),
    };
  }

  /** GET a blob by digest, verified, its body within `size`. Redirects (to storage) are followed without credentials. */
  async getBlob(repository: string, digest: string, size: SizeLimit, ctx: RequestContext): Promise<Buffer> {
    const what = this.name(repository, `blob ${digest}`);
    const url = this.url(`/v2/${repository}/blobs/${digest}`);
    const response = await sized(what, size, () =>
      this.pull(repository, { method: "GET", url, kind: "blob", maxBytes: capOf(size) }, ctx),
    );
    if (response.status !== 200) throw this.fail(response, `GET ${what}`, "blob");
    verifyDigest(response.body, digest, what);
    return response.body;
  }

  /**
   * The repository's tags, following `Link` pages (distribution spec, "Listing Tags"): at most
   * `limits.total` tags from at most `limits.pages` pages of at most LIMITS.tagsBytes each.
   * `truncated` says the registry had more: a page past a limit, or a page over the byte cap after
   * the first (the first one over it fails TOO_LARGE: there is nothing to show).
   */
  async listTags(
    repository: string,
    ctx: RequestContext,
    limits: { total: number; pages: number } = { total: LIMITS.tagsTotal, pages: LIMITS.tagPages },
  ): Promise<{ tags: string[]; truncated: boolean }> {
    const tags: string[] = [];
    const what = this.name(repository, "tags");
    let url: URL | undefined = this.url(`/v2/${repository}/tags/list?n=1000`);
    for (let page = 0; url; page++) {
      if (page >= limits.pages) return { tags, truncated: true };
      let response: Response;
      try {
        response = await this.pull(
          repository,
          { method: "GET", url, kind: "tags", maxBytes: LIMITS.tagsBytes },
          ctx,
        );
      } catch (err) {
        if (page > 0 && isCoded(err, "TOO_LARGE")) return { tags, truncated: true };
        throw err;
      }
      if (response.status !== 200) throw this.fail(response, `GET ${what}`, "tags");
      const body = parseJson(response.body, what) as { tags?: unknown };
      const listed = Array.isArray(body.tags) ? body.tags.filter((t) => typeof t === "string") : [];
      const room = limits.total - tags.length;
      tags.push(...listed.slice(0, room));
      if (listed.length > room) return { tags, truncated: true };
      url = this.nextPage(response);
      if (url && tags.length >= limits.total) return { tags, truncated: true };
    }
    return { tags, truncated: false };
  }

  /**
   * The referrers of `digest` from the referrers API (distribution spec, "Listing Referrers"), or
   * null when the registry does not implement it (404): the caller then uses the fallback tag.
   */
  async getReferrers(
    repository: string,
    digest: string,
    ctx: RequestContext,
    maxPages = 4,
  ): Promise<Descriptor[] | null> {
    const what = this.name(repository, `referrers of ${digest}`);
    const found: Descriptor[] = [];
    let url: URL | undefined = this.url(`/v2/${repository}/referrers/${digest}`);
    for (let page = 0; url && page < maxPages; page++) {
      const accept = { accept: MEDIA.ociIndex };
      const spec: RequestSpec = {
        method: "GET",
        url,
        kind: "referrers",
        headers: accept,
        maxBytes: LIMITS.manifestBytes,
      };
      const response = await this.pull(repository, spec, ctx);
      if (response.status === 404 && page === 0) return null;
      if (response.status !== 200) throw this.fail(response, `GET ${what}`, "referrers");
      const type = (headerText(response.headers["content-type"]) ?? "").split(";")[0]!.trim();
      // A registry without the API may answer 200 with something else entirely (an HTML page, a
      // catch-all route): only an OCI index counts as an answer.
      if (type !== MEDIA.ociIndex) {
        if (page === 0) return null;
        break;
      }
      const body = parseJson(response.body, what) as ManifestJson;
      if (!Array.isArray(body.manifests)) throw new RegistryError("BAD_RESPONSE", `${what}: not an index`);
      for (const d of body.manifests) found.push(checkDescriptor(d, what));
      url = this.nextPage(response);
    }
    return found;
  }

  /** The `rel="next"` URL of a `Link` header, only when it stays on this registry. */
  private nextPage(response: Response): URL | undefined {
    const link = headerText(response.headers.link);
    const match = link ? /<([^>]+)>\s*;\s*rel="?next"?/i.exec(link) : null;
    if (!match) return undefined;
    const next = new URL(match[1]!, response.url);
    return next.origin === this.options.base.origin ? next : undefined;
  }
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    const value = JSON.parse(bytes.toString("utf8")) as unknown;
    if (value && typeof value === "object") return value;
  } catch (err) {
    throw new RegistryError("BAD_RESPONSE", `${what}: not JSON`, { cause: err });
  }
  throw new RegistryError("BAD_RESPONSE", `${what}: not a JSON object`);
}

/**
 * Parse and check verified manifest bytes: a JSON object of a type this client reads, an index
 * with a list of valid descriptors, an image manifest with a valid config and layer list.
 */
function parseManifest(
  bytes: Buffer,
  digest: string,
  contentType: string | undefined,
  what: string,
): FetchedManifest {
  let json: ManifestJson;
  try {
    json = JSON.parse(bytes.toString("utf8")) as ManifestJson;
  } catch (err) {
    throw new RegistryError("BAD_RESPONSE", `${what}: not JSON`, { cause: err });
  }
  if (!json || typeof json !== "object" || Array.isArray(json))
    throw new RegistryError("BAD_RESPONSE", `${what}: not a JSON object`);
  const mediaType = manifestMediaType(json, contentType);
  if (!INDEX_TYPES.has(mediaType) && !IMAGE_MANIFEST_TYPES.has(mediaType))
    throw new RegistryError("UNSUPPORTED_MEDIA_TYPE", `${what}: unsupported manifest type ${mediaType}`);
  if (INDEX_TYPES.has(mediaType)) {
    if (!Array.isArray(json.manifests))
      throw new RegistryError("BAD_RESPONSE", `${what}: an index without manifests`);
    for (const d of json.manifests) checkDescriptor(d, what);
  } else {
    json.config = checkDescriptor(json.config, what);
    if (!Array.isArray(json.layers))
      throw new RegistryError("BAD_RESPONSE", `${what}: a manifest without layers`);
    for (const d of json.layers) checkDescriptor(d, what);
  }
  return { digest, mediaType, bytes, json };
}

/**
 * The media type of a manifest: its own `mediaType` field (covered by the digest, so trusted over
 * the header), else the Content-Type, else the shape (OCI lets `mediaType` be omitted).
 */
function manifestMediaType(json: ManifestJson, contentType: string | undefined): string {
  if (typeof json.mediaType === "string" && json.mediaType) return json.mediaType;
  if (json.schemaVersion === 1) return "application/vnd.docker.distribution.manifest.v1+json";
  const header = contentType?.split(";")[0]?.trim();
  if (header && (INDEX_TYPES.has(header) || IMAGE_MANIFEST_TYPES.has(header))) return header;
  if (Array.isArray(json.manifests)) return MEDIA.ociIndex;
  if (json.config) return MEDIA.ociManifest;
  return header || "unknown";
}

/** The base URL of a registry: Docker Hub's API host for `docker.io`; http only when the policy allows it. */
export function registryBaseUrl(registry: string, transport: Transport): URL {
  const host = registry === "docker.io" ? "registry-1.docker.io" : registry;
  const insecure = new URL(`http://${host}`);
  return transport.allowsInsecure(insecure) ? insecure : new URL(`https://${host}`);
}
