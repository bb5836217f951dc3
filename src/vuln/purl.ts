/**
 * Package URLs (https://github.com/package-url/purl-spec): `pkg:type/namespace/name@version?qualifiers#subpath`.
 * Only what matching needs: type, namespace, name, version and qualifiers, percent-decoded.
 */

/** A parsed package URL. */
export interface Purl {
  type: string;
  namespace: string;
  name: string;
  version?: string;
  qualifiers: Record<string, string>;
}

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** Parses a purl, or null when it is not one. */
export function parsePurl(text: string): Purl | null {
  if (text.length > 2048 || !text.startsWith("pkg:")) return null;
  let rest = text.slice(4).replace(/^\/+/, "");
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  const qualifiers: Record<string, string> = {};
  const q = rest.indexOf("?");
  if (q >= 0) {
    for (const pair of rest.slice(q + 1).split("&")) {
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const value = decode(pair.slice(eq + 1));
      if (value !== undefined) qualifiers[pair.slice(0, eq).toLowerCase()] = value;
    }
    rest = rest.slice(0, q);
  }
  let version: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    version = decode(rest.slice(at + 1));
    if (version === undefined) return null;
    rest = rest.slice(0, at);
  }
  const segments = rest.split("/").filter((s) => s !== "");
  if (segments.length < 2) return null;
  const type = segments[0]!.toLowerCase();
  const parts = segments.slice(1).map(decode);
  if (parts.some((p) => p === undefined)) return null;
  const name = parts.pop() as string;
  return {
    type,
    namespace: (parts as string[]).join("/"),
    name,
    ...(version ? { version } : {}),
    qualifiers,
  };
}

/** True when `candidate` names the same package as `pattern` (and its version, when `pattern` has one). */
export function purlMatches(pattern: Purl, candidate: Purl): boolean {
  if (pattern.type !== candidate.type || pattern.name !== candidate.name) return false;
  if (pattern.namespace && pattern.namespace.toLowerCase() !== candidate.namespace.toLowerCase())
    return false;
  return pattern.version === undefined || pattern.version === candidate.version;
}
