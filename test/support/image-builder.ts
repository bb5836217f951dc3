// Pushes crafted images, indexes, signatures and referrers into a testbed registry through the
// OCI distribution API (https://github.com/opencontainers/distribution-spec/blob/main/spec.md),
// with its own tiny HTTP/auth client: fixtures must not be built with the code under test, so
// nothing here imports src/registry.
import {
  createHash,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import type { RegistryEndpoint } from "./testbed.js";

/** Where to push: an endpoint, or an object holding one. */
export interface Target {
  endpoint: RegistryEndpoint;
}
type TargetLike = RegistryEndpoint | Target;

/** A platform as image-spec writes it. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** The image to craft; every field has a small default. */
export interface ImageSpec {
  /** Manifest/config/layer media types; default "oci". */
  mediaTypes?: "oci" | "docker";
  /** Default linux/amd64. */
  platform?: Platform;
  config?: {
    User?: string;
    Env?: string[];
    Labels?: Record<string, string>;
    ExposedPorts?: Record<string, object>;
    Volumes?: Record<string, object>;
    Healthcheck?: { Test: string[]; Interval?: number };
    Cmd?: string[];
    Entrypoint?: string[];
    WorkingDir?: string;
    StopSignal?: string;
  };
  /** Config `created`; default now. */
  created?: string;
  /** Config history; default one entry per layer. */
  history?: { created_by: string; empty_layer?: boolean; created?: string; comment?: string }[];
  /** Layer blobs; default one small gzipped tar. `{size}` = that many random bytes. */
  layers?: (Buffer | { size: number })[];
  /** Manifest annotations. */
  annotations?: Record<string, string>;
  /** Merged into the config JSON's top level (after everything else). */
  extraConfig?: Record<string, unknown>;
}

/** An image manifest as pushed, with the bytes and digests of its parts. */
export interface PushedImage {
  digest: string;
  mediaType: string;
  size: number;
  // biome-ignore lint/suspicious/noExplicitAny: fixtures are inspected freely by tests
  manifest: any;
  manifestBytes: Buffer;
  configDigest: string;
  configBytes: Buffer;
  layers: { digest: string; size: number }[];
}

/** A content descriptor (image-spec descriptor.md). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Platform;
}

/** Media types used below (image-spec media-types.md, Docker manifest v2 schema 2, cosign, notation). */
export const MT = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerTar: "application/vnd.oci.image.layer.v1.tar",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerLayerTar: "application/vnd.docker.image.rootfs.diff.tar",
  inToto: "application/vnd.in-toto+json",
  dsse: "application/vnd.dsse.envelope.v1+json",
  cosignSimpleSigning: "application/vnd.dev.cosign.simplesigning.v1+json",
  sigstoreBundle: "application/vnd.dev.sigstore.bundle.v0.3+json",
  notarySignature: "application/vnd.cncf.notary.signature",
} as const;

/** Every manifest type, for Accept headers (registry 2.8 hides OCI manifests without it). */
const ACCEPT_ALL = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(", ");

/** The source named by the default provenance attestation. */
export const DEFAULT_PROVENANCE_SOURCE = {
  repository: "https://github.com/example/image-check-fixture",
  revision: "4f1c9e0a7b2d3c5e6f708192a3b4c5d6e7f80912",
} as const;

/** "sha256:<hex>" of `bytes`. */
export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A unique repository name per test, e.g. "test/3f9a0c1b2d4e". */
export function randomRepo(prefix = "test"): string {
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9/._-]+/g, "-")
      .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "") || "test";
  return `${clean}/${randomBytes(6).toString("hex")}`;
}

/** The descriptor of a pushed manifest, to use as a referrer subject or index entry. */
export function descriptorOf(image: { digest: string; mediaType: string; size: number }): Descriptor {
  return { mediaType: image.mediaType, digest: image.digest, size: image.size };
}

// ---------------------------------------------------------------------------------------------
// tar + gzip in memory (POSIX ustar, enough for regular files)

function tarHeader(name: string, size: number, mode: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number): void => {
    h.write(value.slice(0, length), offset, length, "utf8");
  };
  const octal = (n: number, length: number): string => `${n.toString(8).padStart(length - 1, "0")}\0`;
  put(name, 0, 100);
  put(octal(mode, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12);
  put("        ", 148, 8);
  put("0", 156, 1);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  let sum = 0;
  for (const byte of h) sum += byte;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}

/** An uncompressed tar of regular files (mtime 0, root-owned), for deterministic layers. */
export function tarFiles(files: Record<string, string | Buffer>, mode = 0o644): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.from(content);
    parts.push(tarHeader(name, data.length, mode), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A gzipped tar layer holding `files`. */
export function tarGzLayer(files: Record<string, string | Buffer>, mode = 0o644): Buffer {
  return gzipSync(tarFiles(files, mode));
}

const DEFAULT_LAYER = tarGzLayer({ "etc/image-check-fixture": "hello from the image-check testbed\n" });

function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

function diffId(layer: Buffer): string {
  if (isGzip(layer)) {
    try {
      return sha256(gunzipSync(layer));
    } catch {
      // random bytes that happen to start like gzip: treat as opaque
    }
  }
  return sha256(layer);
}

// ---------------------------------------------------------------------------------------------
// HTTP with Basic and token auth (distribution spec/auth/token.md), deliberately minimal.

function endpointOf(target: TargetLike): RegistryEndpoint {
  return "endpoint" in target ? target.endpoint : target;
}

const tokenCache = new Map<string, string>();

function basicHeader(ep: RegistryEndpoint): string | undefined {
  if (ep.username === undefined) return undefined;
  return `Basic ${Buffer.from(`${ep.username}:${ep.password ?? ""}`).toString("base64")}`;
}

function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const scheme = header.split(" ", 1)[0]?.toLowerCase() ?? "";
  const params: Record<string, string> = {};
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g)) params[m[1] as string] = m[2] as string;
  return { scheme, params };
}

async function fetchToken(
  ep: RegistryEndpoint,
  challenge: Record<string, string>,
  scope: string,
): Promise<string> {
  const realm = challenge.realm;
  if (realm === undefined) throw new Error(`image-builder: Bearer challenge without realm from ${ep.host}`);
  const url = new URL(realm);
  if (challenge.service !== undefined) url.searchParams.set("service", challenge.service);
  url.searchParams.set("scope", scope);
  const auth = basicHeader(ep);
  const res = await fetch(url, { headers: auth ? { authorization: auth } : {} });
  if (!res.ok)
    throw new Error(`image-builder: token request to ${url} failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (token === undefined) throw new Error("image-builder: token response without token");
  return token;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** One registry request for `repo`, authenticating on a 401 challenge and retrying once. */
async function call(
  target: TargetLike,
  repo: string,
  method: string,
  pathOrUrl: string,
  init: { body?: Buffer; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const ep = endpointOf(target);
  const url = pathOrUrl.startsWith("http") ? pathOrUrl : `${ep.url}${pathOrUrl}`;
  const scope = `repository:${repo}:pull,push`;
  const cacheKey = `${ep.url}|${ep.username ?? ""}|${scope}`;
  const send = async (authorization: string | undefined): Promise<Answer> => {
    const res = await fetch(url, {
      method,
      headers: { ...init.headers, ...(authorization ? { authorization } : {}) },
      body: init.body,
      redirect: "follow",
    });
    return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  };
  const cached = tokenCache.get(cacheKey);
  let answer = await send(cached ? `Bearer ${cached}` : ep.auth === "basic" ? basicHeader(ep) : undefined);
  if (answer.status !== 401) return answer;
  const challenge = parseChallenge(answer.headers.get("www-authenticate") ?? "");
  if (challenge.scheme === "basic") {
    answer = await send(basicHeader(ep));
  } else if (challenge.scheme === "bearer") {
    const token = await fetchToken(ep, challenge.params, scope);
    tokenCache.set(cacheKey, token);
    answer = await send(`Bearer ${token}`);
  }
  return answer;
}

function fail(what: string, a: Answer): never {
  throw new Error(`image-builder: ${what} failed: HTTP ${a.status} ${a.body.toString("utf8").slice(0, 500)}`);
}

/** Uploads a blob (POST then PUT, distribution spec "Pushing a blob monolithically"); skips it if present. */
export async function pushBlob(
  target: TargetLike,
  repo: string,
  bytes: Buffer,
): Promise<{ digest: string; size: number }> {
  const digest = sha256(bytes);
  const head = await call(target, repo, "HEAD", `/v2/${repo}/blobs/${digest}`);
  if (head.status === 200) return { digest, size: bytes.length };
  const start = await call(target, repo, "POST", `/v2/${repo}/blobs/uploads/`);
  if (start.status !== 202) fail(`starting a blob upload to ${repo}`, start);
  const location = start.headers.get("location");
  if (location === null) fail("blob upload without Location", start);
  const ep = endpointOf(target);
  const put = new URL(location, ep.url);
  put.searchParams.set("digest", digest);
  const done = await call(target, repo, "PUT", put.toString(), {
    body: bytes,
    headers: { "content-type": "application/octet-stream" },
  });
  if (done.status !== 201) fail(`uploading blob ${digest} to ${repo}`, done);
  return { digest, size: bytes.length };
}

/** PUTs manifest bytes under a tag or digest; returns the digest (checked against the registry's). */
export async function pushManifestRaw(
  target: TargetLike,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<string> {
  const digest = sha256(bytes);
  const res = await call(target, repo, "PUT", `/v2/${repo}/manifests/${reference}`, {
    body: bytes,
    headers: { "content-type": mediaType },
  });
  if (res.status !== 201) fail(`pushing manifest ${repo}:${reference}`, res);
  const echoed = res.headers.get("docker-content-digest");
  if (echoed !== null && echoed !== digest) {
    throw new Error(`image-builder: registry says ${echoed} for a manifest whose sha256 is ${digest}`);
  }
  return digest;
}

/** GETs a manifest by tag or digest, or null on 404. */
export async function getManifest(
  target: TargetLike,
  repo: string,
  reference: string,
): Promise<{ bytes: Buffer; mediaType: string; digest: string } | null> {
  const res = await call(target, repo, "GET", `/v2/${repo}/manifests/${reference}`, {
    headers: { accept: ACCEPT_ALL },
  });
  if (res.status === 404) return null;
  if (res.status !== 200) fail(`getting manifest ${repo}:${reference}`, res);
  return { bytes: res.body, mediaType: res.headers.get("content-type") ?? "", digest: sha256(res.body) };
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** Pushes config + layers, then a manifest referencing them (by tag when given, else by digest). */
async function pushManifestParts(
  target: TargetLike,
  repo: string,
  manifest: Record<string, unknown>,
  mediaType: string,
  tag: string | undefined,
  configBytes: Buffer,
  layers: { digest: string; size: number }[],
): Promise<PushedImage> {
  const manifestBytes = json(manifest);
  const digest = sha256(manifestBytes);
  await pushManifestRaw(target, repo, tag ?? digest, manifestBytes, mediaType);
  return {
    digest,
    mediaType,
    size: manifestBytes.length,
    manifest,
    manifestBytes,
    configDigest: sha256(configBytes),
    configBytes,
    layers,
  };
}

/** Builds and pushes one image manifest from `spec`. */
export async function pushImage(
  target: TargetLike,
  repo: string,
  spec: ImageSpec = {},
  tag?: string,
): Promise<PushedImage> {
  const docker = spec.mediaTypes === "docker";
  const platform = spec.platform ?? { os: "linux", architecture: "amd64" };
  const created = spec.created ?? new Date().toISOString();
  // Random-size layers are labelled gzip like real layers: only their size matters to tests.
  const layerInputs = (spec.layers ?? [DEFAULT_LAYER]).map((l) =>
    Buffer.isBuffer(l) ? { bytes: l, gzip: isGzip(l) } : { bytes: randomBytes(l.size), gzip: true },
  );
  const layerBlobs = layerInputs.map((l) => l.bytes);
  const history =
    spec.history ??
    layerBlobs.map((b, i) => ({
      created,
      created_by: `/bin/sh -c #(nop) ADD file:${sha256(b).slice(7, 19)} in / # layer ${i}`,
    }));
  const config = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: spec.config ?? {},
    rootfs: { type: "layers", diff_ids: layerBlobs.map(diffId) },
    history,
    ...spec.extraConfig,
  };
  const configBytes = json(config);
  const [configDesc, ...layerDescs] = await Promise.all([
    pushBlob(target, repo, configBytes),
    ...layerBlobs.map((b) => pushBlob(target, repo, b)),
  ]);
  const mediaType = docker ? MT.dockerManifest : MT.ociManifest;
  const layerType = (gzip: boolean): string =>
    docker ? (gzip ? MT.dockerLayerGzip : MT.dockerLayerTar) : gzip ? MT.ociLayerGzip : MT.ociLayerTar;
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: {
      mediaType: docker ? MT.dockerConfig : MT.ociConfig,
      digest: configDesc?.digest,
      size: configBytes.length,
    },
    layers: layerInputs.map((l, i) => ({
      mediaType: layerType(l.gzip),
      digest: layerDescs[i]?.digest,
      size: l.bytes.length,
    })),
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  };
  return pushManifestParts(
    target,
    repo,
    manifest,
    mediaType,
    tag,
    configBytes,
    layerDescs as { digest: string; size: number }[],
  );
}

// ---------------------------------------------------------------------------------------------
// Indexes with BuildKit attestations (moby/buildkit docs/attestations/attestation-storage.md)

/** Attestations to attach to every image of an index; `true` = default provenance and SBOM. */
export interface AttestationOptions {
  /** An in-toto statement, or only its predicate (SLSA v1 if it has buildDefinition, else v0.2); true = default. */
  provenance?: object | boolean;
  /** An in-toto statement or an SPDX/CycloneDX document; true = a small default SPDX document. */
  sbom?: object | boolean;
  /** An in-toto statement, or a cosign vuln predicate (`scanner.result` holding a Trivy or Grype report). */
  vuln?: object;
}

function defaultProvenance(): object {
  const { repository, revision } = DEFAULT_PROVENANCE_SOURCE;
  return {
    buildDefinition: {
      buildType: "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
      externalParameters: {
        configSource: {
          uri: `${repository}.git#refs/heads/main`,
          digest: { sha1: revision },
          path: "Dockerfile",
        },
        request: { frontend: "dockerfile.v0", args: {}, locals: [] },
      },
      internalParameters: { builderPlatform: "linux/amd64" },
      resolvedDependencies: [{ uri: `${repository}.git#refs/heads/main`, digest: { sha1: revision } }],
    },
    runDetails: {
      builder: { id: "" },
      metadata: {
        invocationId: "image-check-testbed",
        buildkit_reproducible: false,
        buildkit_completeness: { request: true, resolvedDependencies: true },
        buildkit_metadata: { vcs: { source: repository, revision } },
      },
    },
  };
}

function defaultSbom(): object {
  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: "image-check-testbed-sbom",
    documentNamespace: "https://example.invalid/image-check-testbed",
    creationInfo: { created: "2024-01-01T00:00:00Z", creators: ["Tool: buildkit-v0.12.0"] },
    packages: [
      {
        name: "busybox",
        SPDXID: "SPDXRef-Package-busybox",
        versionInfo: "1.36.1",
        downloadLocation: "NOASSERTION",
      },
    ],
  };
}

type AttestationKind = "provenance" | "sbom" | "vuln";

function predicateTypeOf(kind: AttestationKind, predicate: Record<string, unknown>): string {
  if (kind === "vuln") return "https://cosign.sigstore.dev/attestation/vuln/v1";
  if (kind === "provenance")
    return "buildDefinition" in predicate
      ? "https://slsa.dev/provenance/v1"
      : "https://slsa.dev/provenance/v0.2";
  return "bomFormat" in predicate ? "https://cyclonedx.org/bom" : "https://spdx.dev/Document";
}

/** Wraps a predicate into an in-toto statement about `subject`, or fills a statement's missing subject. */
function statementFor(
  kind: AttestationKind,
  given: object | boolean,
  subject: { name: string; digest: string },
): Record<string, unknown> {
  const value = (
    given === true ? (kind === "provenance" ? defaultProvenance() : defaultSbom()) : given
  ) as Record<string, unknown>;
  const subjects = [{ name: subject.name, digest: { sha256: subject.digest.replace(/^sha256:/, "") } }];
  if ("predicateType" in value || "_type" in value) {
    const hasSubject = Array.isArray(value.subject) && value.subject.length > 0;
    return hasSubject ? value : { ...value, subject: subjects };
  }
  const predicateType = predicateTypeOf(kind, value);
  return {
    _type:
      predicateType === "https://slsa.dev/provenance/v1"
        ? "https://in-toto.io/Statement/v1"
        : "https://in-toto.io/Statement/v0.1",
    predicateType,
    subject: subjects,
    predicate: value,
  };
}

/** Pushes a multi-platform index, optionally with BuildKit attestation manifests. */
export async function pushIndex(
  target: TargetLike,
  repo: string,
  opts: {
    mediaTypes?: "oci" | "docker";
    images: { spec: ImageSpec; platform: Platform }[];
    attestations?: boolean | AttestationOptions;
    annotations?: Record<string, string>;
  },
  tag?: string,
): Promise<{
  digest: string;
  manifestBytes: Buffer;
  images: PushedImage[];
  attestationManifests: PushedImage[];
}> {
  const docker = opts.mediaTypes === "docker";
  const images: PushedImage[] = [];
  for (const entry of opts.images) {
    images.push(
      await pushImage(target, repo, { mediaTypes: opts.mediaTypes, ...entry.spec, platform: entry.platform }),
    );
  }
  const wanted: AttestationOptions =
    opts.attestations === true
      ? { provenance: true, sbom: true }
      : opts.attestations === false || opts.attestations === undefined
        ? {}
        : opts.attestations;
  const attestationManifests: PushedImage[] = [];
  const entries: Descriptor[] = [];
  const ep = endpointOf(target);
  for (const [i, image] of images.entries()) {
    const platform = opts.images[i]?.platform as Platform;
    entries.push({ ...descriptorOf(image), platform });
    const kinds = (["provenance", "sbom", "vuln"] as const).filter(
      (k) => wanted[k] !== undefined && wanted[k] !== false,
    );
    if (kinds.length === 0) continue;
    const platformString = [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/");
    const subject = {
      name: `pkg:docker/${ep.host}/${repo}@${tag ?? "latest"}?platform=${encodeURIComponent(platformString)}`,
      digest: image.digest,
    };
    const statements = kinds.map((k) => statementFor(k, wanted[k] as object | boolean, subject));
    const layerBlobs = statements.map((s) => json(s));
    const layerDescs = await Promise.all(layerBlobs.map((b) => pushBlob(target, repo, b)));
    const configBytes = json({
      architecture: "unknown",
      os: "unknown",
      config: {},
      rootfs: { type: "layers", diff_ids: layerDescs.map((d) => d.digest) },
    });
    const configDesc = await pushBlob(target, repo, configBytes);
    const manifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configDesc.digest, size: configDesc.size },
      layers: layerDescs.map((d, j) => ({
        mediaType: MT.inToto,
        digest: d.digest,
        size: d.size,
        annotations: { "in-toto.io/predicate-type": String(statements[j]?.predicateType) },
      })),
    };
    const att = await pushManifestParts(
      target,
      repo,
      manifest,
      MT.ociManifest,
      undefined,
      configBytes,
      layerDescs,
    );
    attestationManifests.push(att);
    entries.push({
      ...descriptorOf(att),
      annotations: {
        "vnd.docker.reference.digest": image.digest,
        "vnd.docker.reference.type": "attestation-manifest",
      },
      platform: { architecture: "unknown", os: "unknown" },
    });
  }
  const mediaType = docker ? MT.dockerList : MT.ociIndex;
  const index = {
    schemaVersion: 2,
    mediaType,
    manifests: entries,
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const manifestBytes = json(index);
  const digest = await pushManifestRaw(target, repo, tag ?? sha256(manifestBytes), manifestBytes, mediaType);
  return { digest, manifestBytes, images, attestationManifests };
}

// ---------------------------------------------------------------------------------------------
// cosign "classic" tag-based signatures and attestations
// (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md, ATTESTATION_SPEC.md)

const COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";

function cosignTag(subjectDigest: string, suffix: "sig" | "att"): string {
  return `${subjectDigest.replace(":", "-")}.${suffix}`;
}

/** Signs with the hash cosign uses for the key type: none for Ed25519, SHA-256 otherwise. */
function signBytes(key: KeyObject, data: Buffer): Buffer {
  return sign(key.asymmetricKeyType === "ed25519" ? null : "sha256", data, key);
}

/** Appends a layer to the cosign manifest under `tag` (creating it), the way cosign does. */
async function appendCosignLayer(
  target: TargetLike,
  repo: string,
  tag: string,
  layer: { mediaType: string; bytes: Buffer; annotations: Record<string, string> },
): Promise<string> {
  const blob = await pushBlob(target, repo, layer.bytes);
  const existing = await getManifest(target, repo, tag);
  const previous: Descriptor[] = existing ? (JSON.parse(existing.bytes.toString("utf8")).layers ?? []) : [];
  const layers = [
    ...previous,
    { mediaType: layer.mediaType, digest: blob.digest, size: blob.size, annotations: layer.annotations },
  ];
  const configBytes = json({
    architecture: "",
    created: "0001-01-01T00:00:00Z",
    history: [{ created: "0001-01-01T00:00:00Z" }],
    os: "",
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
    config: {},
  });
  const configDesc = await pushBlob(target, repo, configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: configDesc.digest, size: configDesc.size },
    layers,
  };
  return pushManifestRaw(target, repo, tag, json(manifest), MT.ociManifest);
}

/** Adds a cosign key signature for `subjectDigest` under the tag `sha256-<hex>.sig`. */
export async function signCosign(
  target: TargetLike,
  repo: string,
  subjectDigest: string,
  key: KeyObject,
  opts: {
    dockerReference?: string;
    payloadDigest?: string;
    tamper?: boolean;
    extraAnnotations?: Record<string, string>;
  } = {},
): Promise<{ manifestDigest: string; payload: Buffer; signature: string }> {
  const payload = json({
    critical: {
      identity: { "docker-reference": opts.dockerReference ?? `${endpointOf(target).host}/${repo}` },
      image: { "docker-manifest-digest": opts.payloadDigest ?? subjectDigest },
      type: "cosign container image signature",
    },
    optional: {},
  });
  const signed = opts.tamper ? Buffer.concat([payload, Buffer.from(" ")]) : payload;
  const signature = signBytes(key, signed).toString("base64");
  const manifestDigest = await appendCosignLayer(target, repo, cosignTag(subjectDigest, "sig"), {
    mediaType: MT.cosignSimpleSigning,
    bytes: payload,
    annotations: { [COSIGN_SIGNATURE_ANNOTATION]: signature, ...opts.extraAnnotations },
  });
  return { manifestDigest, payload, signature };
}

/** DSSE pre-authentication encoding (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md). */
export function dssePae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `),
    payload,
  ]);
}

/**
 * Adds a cosign attestation (a DSSE envelope of `statement`) under the tag `sha256-<hex>.att`.
 * Without `key` the envelope is signed by a throwaway P-256 key that nothing trusts.
 */
export async function attachCosignAttestation(
  target: TargetLike,
  repo: string,
  subjectDigest: string,
  statement: object,
  key?: KeyObject,
): Promise<{ manifestDigest: string; envelope: Buffer }> {
  const signer = key ?? generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const payload = json(statement);
  const envelope = json({
    payloadType: MT.inToto,
    payload: payload.toString("base64"),
    signatures: [{ keyid: "", sig: signBytes(signer, dssePae(MT.inToto, payload)).toString("base64") }],
  });
  const predicateType = String((statement as { predicateType?: unknown }).predicateType ?? "");
  const manifestDigest = await attachCosignEnvelope(target, repo, subjectDigest, envelope, {
    [COSIGN_SIGNATURE_ANNOTATION]: "",
    predicateType,
  });
  return { manifestDigest, envelope };
}

/**
 * Adds a DSSE envelope made elsewhere, with its layer annotations (a keyless one carries cosign's
 * certificate, chain and Rekor bundle), under the tag `sha256-<hex>.att`.
 */
export async function attachCosignEnvelope(
  target: TargetLike,
  repo: string,
  subjectDigest: string,
  envelope: Buffer,
  annotations: Record<string, string>,
): Promise<string> {
  return appendCosignLayer(target, repo, cosignTag(subjectDigest, "att"), {
    mediaType: MT.dsse,
    bytes: envelope,
    annotations,
  });
}

// ---------------------------------------------------------------------------------------------
// OCI 1.1 referrers, with the referrers tag schema fallback for registries without the API
// (distribution-spec spec.md "Referrers Tag Schema"; registry 2.8 has no referrers API).

const EMPTY_CONFIG = Buffer.from("{}");

/** A referrer manifest as pushed, and the fallback tag whose index lists it. */
export interface AttachedReferrer {
  manifestDigest: string;
  manifestBytes: Buffer;
  fallbackTag: string;
}

/** Pushes an artifact manifest whose `subject` is `subject`, and lists it in the `sha256-<hex>` index. */
export async function attachReferrer(
  target: TargetLike,
  repo: string,
  subject: { digest: string; mediaType: string; size: number },
  opts: {
    artifactType: string;
    layers: { mediaType: string; bytes: Buffer; annotations?: Record<string, string> }[];
    annotations?: Record<string, string>;
  },
): Promise<AttachedReferrer> {
  const empty = await pushBlob(target, repo, EMPTY_CONFIG);
  const layers = await Promise.all(
    opts.layers.map(async (l) => {
      const d = await pushBlob(target, repo, l.bytes);
      return {
        mediaType: l.mediaType,
        digest: d.digest,
        size: d.size,
        ...(l.annotations ? { annotations: l.annotations } : {}),
      };
    }),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: opts.artifactType,
    config: {
      mediaType: MT.ociEmpty,
      digest: empty.digest,
      size: empty.size,
      data: EMPTY_CONFIG.toString("base64"),
    },
    layers,
    subject: descriptorOf(subject),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const manifestBytes = json(manifest);
  const manifestDigest = await pushManifestRaw(
    target,
    repo,
    sha256(manifestBytes),
    manifestBytes,
    MT.ociManifest,
  );

  const fallbackTag = subject.digest.replace(":", "-");
  const existing = await getManifest(target, repo, fallbackTag);
  const previous: Descriptor[] = existing
    ? (JSON.parse(existing.bytes.toString("utf8")).manifests ?? [])
    : [];
  const entry: Descriptor = {
    mediaType: MT.ociManifest,
    digest: manifestDigest,
    size: manifestBytes.length,
    artifactType: opts.artifactType,
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const index = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [...previous.filter((d) => d.digest !== manifestDigest), entry],
  };
  await pushManifestRaw(target, repo, fallbackTag, json(index), MT.ociIndex);
  return { manifestDigest, manifestBytes, fallbackTag };
}

/** Attaches a Sigstore bundle as cosign 3 does: an OCI referrer of artifactType bundle v0.3. */
export async function attachSigstoreBundle(
  target: TargetLike,
  repo: string,
  subject: { digest: string; mediaType: string; size: number },
  bundleJson: Buffer | object,
): Promise<AttachedReferrer> {
  const bytes = Buffer.isBuffer(bundleJson) ? bundleJson : json(bundleJson);
  const bundle = JSON.parse(bytes.toString("utf8")) as { dsseEnvelope?: { payload?: string } };
  const annotations: Record<string, string> = {
    "dev.sigstore.bundle.content": bundle.dsseEnvelope ? "dsse-envelope" : "message-signature",
  };
  if (bundle.dsseEnvelope?.payload) {
    try {
      const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8")) as {
        predicateType?: string;
      };
      if (statement.predicateType) annotations["dev.sigstore.bundle.predicateType"] = statement.predicateType;
    } catch {
      // a payload that is not JSON: the annotation is optional
    }
  }
  return attachReferrer(target, repo, subject, {
    artifactType: MT.sigstoreBundle,
    layers: [{ mediaType: MT.sigstoreBundle, bytes }],
    annotations,
  });
}

/** SHA-256 thumbprints of the x5c chain of a JWS JSON envelope (notation puts them in an annotation). */
function notationThumbprints(envelope: Buffer): string[] {
  try {
    const jws = JSON.parse(envelope.toString("utf8")) as { header?: { x5c?: string[] } };
    return (jws.header?.x5c ?? []).map((c) =>
      new X509Certificate(Buffer.from(c, "base64")).fingerprint256.replaceAll(":", "").toLowerCase(),
    );
  } catch {
    return [];
  }
}

/** Attaches a Notation signature envelope as an OCI referrer (notaryproject specs signature-specification.md). */
export async function attachNotation(
  target: TargetLike,
  repo: string,
  subject: { digest: string; mediaType: string; size: number },
  envelope: Buffer,
  mediaType: "application/jose+json" | "application/cose" = "application/jose+json",
): Promise<AttachedReferrer> {
  const thumbprints = mediaType === "application/jose+json" ? notationThumbprints(envelope) : [];
  return attachReferrer(target, repo, subject, {
    artifactType: MT.notarySignature,
    layers: [{ mediaType, bytes: envelope }],
    annotations: { "io.cncf.notary.x509chain.thumbprint#S256": JSON.stringify(thumbprints) },
  });
}
