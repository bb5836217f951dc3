// Access to the read-only test vectors in ../shared/vectors (see its README for origins and
// licences), and conversion of containers/image's on-disk cosign signatures into the facts model.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { FetchedBlob, SignatureArtifact } from "../../src/facts/model.js";

/** The vectors folder: /work/shared/vectors here, ../shared/vectors from the repo root in CI. */
export function vectorsDir(): URL {
  return new URL("../../../shared/vectors/", import.meta.url);
}

/** The bytes of a vector file, by path relative to the vectors folder. */
export function readVector(path: string): Buffer {
  return readFileSync(new URL(path, vectorsDir()));
}

/** A vector file as text. */
export function readVectorText(path: string): string {
  return readVector(path).toString("utf8");
}

/** A vector file parsed as JSON. */
export function readVectorJson(path: string): unknown {
  return JSON.parse(readVectorText(path));
}

/** `sha256:<hex>` of bytes. */
export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

const SIGSTORE_JSON_PREFIX = Buffer.from("\x00sigstore-json\n", "latin1");

/**
 * containers/image stores each layer of a cosign `.sig` manifest as `\0sigstore-json\n` followed
 * by `{mimeType, payload (base64 of the layer blob), annotations}`; this rebuilds the fetched layer.
 */
export function layerFromContainersImage(bytes: Buffer): FetchedBlob {
  if (!bytes.subarray(0, SIGSTORE_JSON_PREFIX.length).equals(SIGSTORE_JSON_PREFIX)) {
    throw new Error("not a containers/image sigstore signature");
  }
  const doc = JSON.parse(bytes.subarray(SIGSTORE_JSON_PREFIX.length).toString("utf8")) as {
    mimeType: string;
    payload: string;
    annotations: Record<string, string>;
  };
  const payload = Buffer.from(doc.payload, "base64");
  return {
    mediaType: doc.mimeType,
    digest: sha256Digest(payload),
    size: payload.length,
    annotations: doc.annotations,
    data: doc.payload,
  };
}

/**
 * A containers/image signature fixture folder (`manifest.json` + `signature-1`) as the facts
 * layer would present it: the cosign `.sig` artifact and the digest of the signed manifest.
 */
export function cosignVector(dir: string): { digest: string; artifact: SignatureArtifact } {
  const digest = sha256Digest(readVector(`${dir}/manifest.json`));
  const layer = layerFromContainersImage(readVector(`${dir}/signature-1`));
  return {
    digest,
    artifact: {
      kind: "cosign",
      foundVia: `tag:${digest.replace(":", "-")}.sig`,
      manifestDigest: sha256Digest(Buffer.from(JSON.stringify({ layers: [layer.digest] }))),
      subjectDigest: digest,
      manifestAnnotations: {},
      blobs: [layer],
    },
  };
}
