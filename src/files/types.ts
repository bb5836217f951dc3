/**
 * Image references found in files a pipeline already has: Dockerfiles, compose files and
 * Kubernetes manifests. Plain data; the parsers that produce it are pure (no I/O: the caller
 * reads the file and passes its text in).
 */
import { CodedError } from "../errors.js";

/** One image reference at one place in one file. */
export interface FoundReference {
  /** The file as the user named it. */
  file: string;
  /** 1-based line of the reference (for `FROM $BASE`, the FROM line). */
  line: number;
  /** The reference after variables are substituted, as it would be pulled. */
  reference: string;
  /**
   * Where the reference is written literally, so `pin` can rewrite it: a character offset into
   * the file's text and the text found there. Absent when the reference is put together from
   * several parts (`${REGISTRY}/app:${TAG}`): such a reference is checked but not pinned.
   */
  literal?: { offset: number; text: string };
}

/** The kinds of file references are read from. */
export type FileKind = "dockerfile" | "compose" | "kubernetes";

/** Codes of file reading and parsing errors; each is a usage error (exit 64). */
export type FileErrorCode =
  | "UNSUPPORTED_FILE"
  | "UNREADABLE_FILE"
  | "FILE_TOO_LARGE"
  | "INVALID_YAML"
  | "UNDEFINED_VARIABLE"
  | "INVALID_REFERENCE";

/** A file that cannot be read for references. The message is one line naming the file (and line). */
export class FileError extends CodedError<FileErrorCode> {}

/** Defaults, each with why. */
export const FILE_LIMITS = {
  /**
   * The largest file read. Dockerfiles and compose files are a few KiB; the manifests a large
   * Helm chart renders stay well under 1 MiB. Anything bigger is not one of these files, and is
   * refused before it is parsed.
   */
  maxBytes: 2 * 1024 * 1024,
  /**
   * Aliases a YAML file may expand (the yaml package's maxAliasCount). Manifests use a handful
   * of anchors; a "billion laughs" file needs thousands. The package's own default is 100.
   */
  maxAliasCount: 100,
};
