/**
 * Runtimes an SBOM lists: the interpreters an attacker could use inside the container. Package
 * names come from SPDX 2 (`packages[].name`), SPDX 3 JSON-LD (`@graph[].name`) and CycloneDX
 * (`components[].name`, nested); the labels are the contract's `contents.runtimes` names.
 */
import { arr, isObject, parseJson, str } from "./parse.js";

/** True for SPDX predicate types (`https://spdx.dev/Document`, with or without a version). */
export function isSpdx(predicateType: string): boolean {
  return /^https:\/\/spdx\.dev\/Document(\/.*)?$/.test(predicateType);
}

/** True for CycloneDX predicate types (`https://cyclonedx.org/bom`, with or without a version). */
export function isCycloneDx(predicateType: string): boolean {
  return /^https:\/\/cyclonedx\.org\/bom(\/.*)?$/.test(predicateType);
}

/** Package-name patterns per runtime label (Debian, Alpine, RPM and syft binary names). */
const RUNTIME_PATTERNS: [label: string, pattern: RegExp][] = [
  ["python", /^(python|python[23](\.\d+)*|python[23](\.\d+)*-(minimal|base)|cpython|pypy3?)$/],
  ["node", /^(node|nodejs|nodejs\d+|nodejs-current)$/],
  ["perl", /^(perl|perl5|perl-base)$/],
  ["ruby", /^ruby(\d+(\.\d+)*)?$/],
  ["java", /^(java|jre|jdk|openjdk.*|java-\d+-openjdk.*|temurin.*|zulu.*|(amazon-)?corretto.*)$/],
  ["php", /^php(\d+(\.\d+)*)?(-cli|-fpm|-cgi)?$/],
  ["shell", /^(bash|dash|ash|busybox|busybox-binsh|zsh|ksh|mksh|tcsh)$/],
];

/** The runtime label a package name stands for, if any. */
export function runtimeOf(packageName: string): string | undefined {
  const name = packageName.trim().toLowerCase();
  return RUNTIME_PATTERNS.find(([, re]) => re.test(name))?.[0];
}

/** Package names of an SBOM document (SPDX 2/3 or CycloneDX). */
function packageNames(doc: unknown): string[] {
  const names: string[] = [];
  for (const p of arr(doc, "packages")) {
    const n = str(p, "name");
    if (n) names.push(n);
  }
  for (const p of arr(doc, "@graph")) {
    const n = str(p, "name");
    if (n && /package/i.test(String(isObject(p) ? (p.type ?? p["@type"] ?? "") : ""))) names.push(n);
  }
  // CycloneDX nests components; walk them without recursion so depth cannot hurt.
  const queue = [...arr(doc, "components")];
  while (queue.length > 0 && names.length < 200_000) {
    const c = queue.pop();
    const n = str(c, "name");
    if (n) names.push(n);
    queue.push(...arr(c, "components"));
  }
  return names;
}

/** The runtimes an SBOM predicate lists, sorted. Older cosign wraps the document as `{Data: ...}`. */
export function sbomRuntimes(predicate: unknown): string[] {
  let doc = predicate;
  const data = isObject(predicate) ? predicate.Data : undefined;
  if (typeof data === "string") {
    const parsed = parseJson(data);
    doc = parsed.ok ? parsed.value : undefined;
  } else if (isObject(data)) doc = data;
  const found = new Set<string>();
  for (const name of packageNames(doc)) {
    const r = runtimeOf(name);
    if (r) found.add(r);
  }
  return [...found].sort();
}
