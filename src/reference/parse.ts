/**
 * Parse and normalize image references per the distribution/reference grammar
 * (https://github.com/distribution/reference/blob/main/reference.go), with Docker's normalization
 * (docker.io default, `library/` for official images). Pure: no I/O.
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [domain "/"] path-component ["/" path-component]*
 *   domain     := host [":" port]        host := domain-name | IPv4 | "[" IPv6 "]"
 *   path-comp  := [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [\w][\w.-]{0,127}
 *   digest     := algorithm ":" encoded
 */
import { CodedError } from "../errors.js";
import { DOCKER_HUB, DOCKER_HUB_ALIASES } from "./host.js";
import type { ImageReference, ReferenceErrorCode } from "./types.js";

export { DOCKER_HUB };

/** A reference that does not parse. The message is one line and says what is wrong. */
export class InvalidReferenceError extends CodedError<ReferenceErrorCode> {}

/**
 * The same class under the name the design notes use. Import it as InvalidReferenceError where a
 * linter objects to shadowing the global ReferenceError.
 */
export { InvalidReferenceError as ReferenceError };

/** distribution/reference's NameTotalLengthMax: the name (domain and path) as written. */
export const NAME_MAX_LENGTH = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[a-fA-F0-9:.]+\]$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const ALGORITHM = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/;
/** A bare 64-hex string is an image id, not a name (Docker refuses it as a repository name). */
const IMAGE_ID = /^[a-f0-9]{64}$/;

/**
 * Registered digest algorithms and the exact shape of their encoded part (image-spec
 * descriptor.md, "Registered algorithms"). Others are refused: nothing fetched under them could be
 * verified.
 */
const DIGEST_ENCODINGS: Record<string, { pattern: RegExp; what: string }> = {
  sha256: { pattern: /^[a-f0-9]{64}$/, what: "64 lowercase hex characters" },
  sha512: { pattern: /^[a-f0-9]{128}$/, what: "128 lowercase hex characters" },
};

function fail(code: ReferenceErrorCode, input: string, why: string): never {
  // JSON quoting keeps the message on one line whatever the input holds; long input is shortened.
  const shown = input.length > 80 ? `${input.slice(0, 77)}...` : input;
  throw new InvalidReferenceError(code, `invalid reference ${JSON.stringify(shown)}: ${why}`);
}

/** Check a `algorithm:encoded` digest; returns a reason when it is not valid. */
export function digestProblem(digest: string): string | undefined {
  const colon = digest.indexOf(":");
  if (colon <= 0) return "a digest is algorithm:hex, e.g. sha256:<64 hex characters>";
  const algorithm = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  if (!ALGORITHM.test(algorithm)) return `"${algorithm}" is not a digest algorithm`;
  const rule = DIGEST_ENCODINGS[algorithm];
  if (!rule) return `digest algorithm ${algorithm} is not supported (use sha256 or sha512)`;
  if (!rule.pattern.test(encoded)) return `a ${algorithm} digest has ${rule.what}`;
  return undefined;
}

function checkDomain(input: string, domain: string): void {
  let host = domain;
  let port: string | undefined;
  if (domain.startsWith("[")) {
    const end = domain.indexOf("]");
    host = domain.slice(0, end + 1);
    const rest = domain.slice(end + 1);
    if (end === -1 || !IPV6_HOST.test(host))
      fail("INVALID_REGISTRY", input, `registry "${domain}" is not a valid IPv6 host`);
    if (rest) {
      if (!rest.startsWith(":")) fail("INVALID_REGISTRY", input, `registry "${domain}" is not host[:port]`);
      port = rest.slice(1);
    }
  } else {
    const colon = domain.indexOf(":");
    if (colon !== -1) {
      host = domain.slice(0, colon);
      port = domain.slice(colon + 1);
    }
    if (!host.split(".").every((c) => DOMAIN_COMPONENT.test(c)))
      fail("INVALID_REGISTRY", input, `registry "${domain}" is not a valid host name`);
  }
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) > 65535))
    fail("INVALID_REGISTRY", input, `registry port "${port}" is not a number from 0 to 65535`);
}

/**
 * A first path component names a registry when it looks like a host: it has a `.` or a `:`, or it
 * is `localhost`. Anything else (`UPPER/case`, `library/nginx`) is a Docker Hub repository.
 */
function isRegistryComponent(first: string): boolean {
  return first.includes(".") || first.includes(":") || first === "localhost";
}

/** Parse and normalize `input`. Throws ReferenceError with a one-line message when it is not a valid reference. */
export function parseReference(input: string): ImageReference {
  if (input.trim() === "") fail("EMPTY", input, "the reference is empty");
  if (/\s/.test(input)) fail("INVALID_FORMAT", input, "a reference contains no spaces");

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digest.includes("@")) fail("INVALID_FORMAT", input, "a reference has at most one @digest");
    const problem = digestProblem(digest);
    if (problem) fail("INVALID_DIGEST", input, problem);
  }

  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > rest.lastIndexOf("/") && !rest.slice(lastColon).includes("]")) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag))
      fail(
        "INVALID_TAG",
        input,
        tag === ""
          ? "the tag after ':' is empty"
          : "a tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
      );
  }

  const name = rest;
  if (name === "") fail("INVALID_FORMAT", input, "the repository name is empty");
  if (name.length > NAME_MAX_LENGTH)
    fail("TOO_LONG", input, `the name is ${name.length} characters, at most ${NAME_MAX_LENGTH} are allowed`);

  const slash = name.indexOf("/");
  let registry = DOCKER_HUB;
  let path = name;
  if (slash !== -1 && isRegistryComponent(name.slice(0, slash))) {
    const domain = name.slice(0, slash);
    checkDomain(input, domain);
    registry = domain.toLowerCase();
    path = name.slice(slash + 1);
  }
  if (DOCKER_HUB_ALIASES.has(registry)) registry = DOCKER_HUB;

  if (path === "") fail("INVALID_FORMAT", input, "the repository name is empty");
  if (path !== path.toLowerCase()) fail("UPPERCASE", input, "repository names must be lowercase");
  for (const component of path.split("/")) {
    if (component === "")
      fail("INVALID_FORMAT", input, "the repository path has an empty component ('//' or a trailing '/')");
    if (!PATH_COMPONENT.test(component))
      fail(
        "INVALID_FORMAT",
        input,
        `"${component}" is not a valid repository name component (lowercase letters and digits, separated by '.', '_', '__' or '-')`,
      );
  }
  if (registry === DOCKER_HUB && IMAGE_ID.test(path))
    fail("INVALID_FORMAT", input, "a 64-hex string is an image id, not a repository name");
  if (registry === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;

  const ref: ImageReference = { registry, repository: path, original: input };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `registry/repository`, the name a registry knows the image by. */
export function repositoryPath(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The tag a pull would use: the one given, `latest` when neither tag nor digest is, none for a bare digest. */
export function effectiveTag(ref: ImageReference): string | undefined {
  return ref.tag ?? (ref.digest ? undefined : "latest");
}

/** The fully qualified reference: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  let text = repositoryPath(ref);
  if (ref.tag) text += `:${ref.tag}`;
  if (ref.digest) text += `@${ref.digest}`;
  return text;
}

/** The reference pinned to `digest`, keeping the tag for readers: `registry/repository:tag@digest`. */
export function pinnedReference(ref: ImageReference, digest: string): string {
  const tag = effectiveTag(ref) ?? ref.tag;
  return `${repositoryPath(ref)}${tag ? `:${tag}` : ""}@${digest}`;
}

/** The short form Docker shows: `nginx:1.27` for `docker.io/library/nginx:1.27`, unchanged elsewhere. */
export function familiarName(ref: ImageReference): string {
  let name = repositoryPath(ref);
  if (ref.registry === DOCKER_HUB) {
    name = ref.repository.startsWith("library/") ? ref.repository.slice("library/".length) : ref.repository;
  }
  if (ref.tag) name += `:${ref.tag}`;
  if (ref.digest) name += `@${ref.digest}`;
  return name;
}
