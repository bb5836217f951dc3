/**
 * SBOM packages turned into OSV queries (https://google.github.io/osv.dev/post-v1-querybatch/).
 * SPDX 2.x JSON and CycloneDX JSON, as syft (and BuildKit's syft scanner) writes them. A query
 * names the ecosystem with its release (`Debian:12`, `Alpine:v3.20`) and the source package and
 * version (purl `upstream=`), not the binary name or `arch=`: that is how OSV keys distro advisories
 * and how osv-scanner asks. Language packages (npm, PyPI, Go, Maven, crates.io, RubyGems, NuGet,
 * Packagist) are asked by their OSV ecosystem and the name OSV keys (`@scope/name`, `group:artifact`,
 * a Go module path, `vendor/package`).
 */
import { arr, at, isObject, type Parsed, str } from "../trust/parse.js";
import { VULN_LIMITS } from "./limits.js";
import { parsePurl } from "./purl.js";

/** One OSV query, and the binary package it was made for. */
export interface OsvQuery {
  package: { ecosystem: string; name: string };
  version: string;
}

/** A package an SBOM lists that OSV can be asked about. */
export interface SbomPackage {
  query: OsvQuery;
  /** The package's own purl (binary name, arch). */
  purl: string;
}

/** Packages of an SBOM: those OSV can be asked about, and how many it cannot. */
export interface SbomPackages {
  packages: SbomPackage[];
  /** Packages with no purl, or of an ecosystem this matcher does not ask OSV about. */
  unmatched: number;
}

/** `alpine-3.20.0` / `3.20.0` -> `Alpine:v3.20`; `debian-12` / `debian-10.1` -> `Debian:12` / `Debian:10`. */
function release(type: string, distro: string | undefined): string | undefined {
  if (!distro) return undefined;
  const version = distro.replace(/^[a-z]+-/i, "");
  if (type === "apk") {
    const m = /^(\d+)\.(\d+)/.exec(version);
    return m ? `Alpine:v${m[1]}.${m[2]}` : undefined;
  }
  if (type === "deb") {
    const m = /^(\d+)/.exec(version);
    return m ? `Debian:${m[1]}` : undefined;
  }
  return undefined;
}

/**
 * Language package types: the OSV ecosystem, and the package name as OSV keys it from the purl's
 * namespace and name (https://ossf.github.io/osv-schema/#affectedpackage-field, purl-spec's types).
 */
const LANGUAGE_ECOSYSTEMS: Record<string, { ecosystem: string; name: (ns: string, name: string) => string }> =
  {
    npm: { ecosystem: "npm", name: (ns, n) => (ns ? `${ns}/${n}` : n) },
    pypi: { ecosystem: "PyPI", name: (_ns, n) => n },
    golang: { ecosystem: "Go", name: (ns, n) => (ns ? `${ns}/${n}` : n) },
    maven: { ecosystem: "Maven", name: (ns, n) => (ns ? `${ns}:${n}` : n) },
    cargo: { ecosystem: "crates.io", name: (_ns, n) => n },
    gem: { ecosystem: "RubyGems", name: (_ns, n) => n },
    nuget: { ecosystem: "NuGet", name: (_ns, n) => n },
    composer: { ecosystem: "Packagist", name: (ns, n) => (ns ? `${ns}/${n}` : n) },
  };

/** The OSV query for one package purl, or undefined when OSV is not asked about it here. */
export function osvQueryFor(purlText: string): OsvQuery | undefined {
  const purl = parsePurl(purlText);
  if (!purl?.version) return undefined;
  const language = LANGUAGE_ECOSYSTEMS[purl.type];
  if (language) {
    const name = language.name(purl.namespace, purl.name);
    // Go versions carry a `v` in purls (`v1.8.0`, the toolchain's `go1.22.1` for stdlib); OSV's Go
    // records list them without it, as osv-scanner asks.
    const version = purl.type === "golang" ? purl.version.replace(/^(v|go)(?=\d)/, "") : purl.version;
    return { package: { ecosystem: language.ecosystem, name }, version };
  }
  // Older syft wrote `pkg:alpine/...` for apk packages.
  const type = purl.type === "alpine" ? "apk" : purl.type;
  if (type !== "apk" && (type !== "deb" || purl.namespace !== "debian")) return undefined;
  const ecosystem = release(type, purl.qualifiers.distro);
  if (!ecosystem) return undefined;
  // `upstream=name` or `upstream=name@version` (syft); the source version is the binary's unless named.
  const upstream = purl.qualifiers.upstream;
  const [srcName, srcVersion] = upstream ? upstream.split("@", 2) : [];
  return {
    package: { ecosystem, name: srcName || purl.name },
    version: srcVersion || purl.version,
  };
}

function purlsOf(doc: unknown): Parsed<string[]> {
  if (isObject(doc) && typeof doc.spdxVersion === "string") {
    const packages = arr(doc, "packages");
    if (packages.length > VULN_LIMITS.packages)
      return {
        ok: false,
        reason: `SBOM lists more than ${VULN_LIMITS.packages} packages (${packages.length})`,
      };
    return {
      ok: true,
      value: packages.map(
        (p) =>
          arr(p, "externalRefs")
            .slice(0, 32)
            .map((r) => (str(r, "referenceType") === "purl" ? str(r, "referenceLocator") : undefined))
            .find((x): x is string => !!x) ?? "",
      ),
    };
  }
  if (isObject(doc) && doc.bomFormat === "CycloneDX") {
    // Components nest; walk them without recursion, counting every one against the cap.
    const out: string[] = [];
    const stack = [...arr(doc, "components")];
    while (stack.length) {
      const c = stack.pop();
      if (out.length + stack.length > VULN_LIMITS.packages)
        return { ok: false, reason: `SBOM lists more than ${VULN_LIMITS.packages} packages` };
      out.push(str(c, "purl") ?? "");
      stack.push(...arr(c, "components"));
    }
    return { ok: true, value: out };
  }
  return { ok: false, reason: "neither an SPDX JSON nor a CycloneDX JSON SBOM" };
}

/** The packages of an SPDX or CycloneDX JSON SBOM, as OSV queries (deduplicated). */
export function sbomPackages(doc: unknown): Parsed<SbomPackages> {
  const purls = purlsOf(doc);
  if (!purls.ok) return purls;
  const seen = new Set<string>();
  const packages: SbomPackage[] = [];
  let unmatched = 0;
  for (const purl of purls.value) {
    // The image itself (`pkg:oci/...`) and the OS entry are not packages to match.
    if (purl.startsWith("pkg:oci/")) continue;
    const query = purl ? osvQueryFor(purl) : undefined;
    if (!query) {
      unmatched++;
      continue;
    }
    const key = `${purl}`;
    if (seen.has(key)) continue;
    seen.add(key);
    packages.push({ query, purl });
  }
  return { ok: true, value: { packages, unmatched } };
}

/** The SBOM of a statement's predicate: SPDX or CycloneDX JSON directly (cosign, BuildKit). */
export function sbomDocument(predicate: unknown): unknown {
  return at(predicate, "spdxVersion") !== undefined || at(predicate, "bomFormat") !== undefined
    ? predicate
    : undefined;
}
