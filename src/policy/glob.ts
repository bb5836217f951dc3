/**
 * Globs over image names (`registry/repository[:tag]`), as the policy writes them in
 * `registries.trusted` and `exceptions[].image`. Pure.
 *
 * `*` matches within one path segment (no `/`), `**` matches across segments, `?` one character
 * other than `/`; everything else is literal. So `docker.io/library/*` trusts the official images but
 * not `docker.io/library/x/y`, and `ghcr.io/acme/**` trusts every repository below `ghcr.io/acme/`.
 */
import { canonicalHost } from "../reference/host.js";

const cache = new Map<string, RegExp>();

/** The anchored regular expression for a glob. */
export function globToRegExp(glob: string): RegExp {
  const hit = cache.get(glob);
  if (hit) return hit;
  let src = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        src += ".*";
        i++;
      } else src += "[^/]*";
    } else if (c === "?") src += "[^/]";
    else src += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  const re = new RegExp(`^${src}$`);
  cache.set(glob, re);
  return re;
}

/** True when `text` matches `glob` (see the module comment for the syntax). */
export function globMatch(glob: string, text: string): boolean {
  return globToRegExp(normalizeImagePattern(glob)).test(text);
}

/**
 * Write a pattern the way references are normalized, so `nginx:*` means `docker.io/library/nginx:*`
 * and `acme/app` means `docker.io/acme/app`, as `docker pull` would read them. A first segment with a
 * `.` or a `:`, or `localhost`, is a registry host, written in its canonical form (so `127.1:5000`
 * and `index.docker.io` match what they name); one with a wildcard is left alone.
 */
export function normalizeImagePattern(pattern: string): string {
  const slash = pattern.indexOf("/");
  const first = slash === -1 ? pattern : pattern.slice(0, slash);
  if (slash === -1) {
    if (/[*?]/.test(first.split(/[:@]/)[0] ?? "")) return pattern;
    return `docker.io/library/${pattern}`;
  }
  if (/[*?]/.test(first)) return pattern;
  if (/[.:]/.test(first) || first === "localhost") return `${canonicalHost(first)}${pattern.slice(slash)}`;
  return `docker.io/${pattern}`;
}

/** The names an image answers to in a glob: `reg/repo`, `reg/repo:tag`, `reg/repo@digest`. */
export function imageNames(image: {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}): string[] {
  const base = `${canonicalHost(image.registry)}/${image.repository}`;
  const names = [base];
  // A reference with neither tag nor digest means `:latest`, as docker reads it.
  const tag = image.tag ?? (image.digest ? undefined : "latest");
  if (tag) names.push(`${base}:${tag}`);
  if (image.digest) {
    names.push(`${base}@${image.digest}`);
    if (tag) names.push(`${base}:${tag}@${image.digest}`);
  }
  return names;
}

/** The first of `globs` that matches any name of the image, or undefined. */
export function matchingGlob(
  globs: readonly string[],
  image: { registry: string; repository: string; tag?: string; digest?: string },
): string | undefined {
  const names = imageNames(image);
  return globs.find((g) => names.some((n) => globMatch(g, n)));
}
