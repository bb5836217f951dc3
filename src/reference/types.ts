/** A parsed, normalized image reference (distribution/reference grammar). Plain data. */
export interface ImageReference {
  /** Registry host, normalized: `docker.io` for Docker Hub (never `index.docker.io`), `host:port`, `[::1]:5000`. */
  registry: string;
  /** Repository path, with `library/` added for official Docker Hub images. */
  repository: string;
  /** The tag, when the reference names one (none is added for a bare name; see `effectiveTag`). */
  tag?: string;
  /** `sha256:<64 hex>` (or another registered algorithm) when the reference pins a digest. */
  digest?: string;
  /** The reference exactly as the user typed it. */
  original: string;
}

/** Codes of reference parsing errors. */
export type ReferenceErrorCode =
  | "EMPTY"
  | "TOO_LONG"
  | "INVALID_FORMAT"
  | "UPPERCASE"
  | "INVALID_TAG"
  | "INVALID_DIGEST"
  | "INVALID_REGISTRY";
