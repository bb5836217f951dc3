/**
 * OpenVEX documents (https://github.com/openvex/spec/blob/main/OPENVEX-SPEC.md), v0.2.0 and the
 * older v0.0.x shape (vulnerability as a string, products as purl strings). A statement applies
 * only when one of its products is this image (a `pkg:oci` purl or a digest naming it); the newest
 * statement per vulnerability wins; `not_affected` without a justification is ignored, as the
 * spec requires one and a bare claim cannot clear anything.
 */
import { arr, at, isObject, type Parsed, str } from "../trust/parse.js";
import { VULN_LIMITS } from "./limits.js";
import { type Purl, parsePurl, purlMatches } from "./purl.js";
import { text } from "./reports.js";
import type { VulnItem, VulnStatus } from "./types.js";

/** Predicate types OpenVEX is attested under (the context URL, versioned or not). */
export function isOpenVexType(predicateType: string): boolean {
  return /^https:\/\/openvex\.dev\/ns(\/|$)/.test(predicateType);
}

/** One statement, normalised. */
export interface VexStatement {
  vulnerability: string;
  aliases: string[];
  /** Products named: purls or bare digests. */
  products: string[];
  /** Subcomponent purls the statement narrows to; empty for the whole product. */
  subcomponents: Purl[];
  status: VulnStatus;
  justification?: string;
  /** Milliseconds since the epoch; the document's timestamp when the statement has none. */
  time: number;
  /** Position in the document, to break ties between equal times (later wins). */
  order: number;
}

const STATUSES: readonly VulnStatus[] = ["affected", "not_affected", "fixed", "under_investigation"];

function timeMs(v: unknown): number {
  const t = typeof v === "string" && v.length < 64 ? Date.parse(v) : Number.NaN;
  return Number.isNaN(t) ? 0 : t;
}

function productIds(p: unknown): string[] {
  if (typeof p === "string") return [text(p)];
  const ids = [str(p, "@id"), str(p, "identifiers", "purl")].filter((x): x is string => !!x);
  return ids.map(text);
}

/** Reads an OpenVEX document; statements without a usable status or vulnerability are skipped. */
export function readOpenVex(doc: unknown): Parsed<{ statements: VexStatement[]; skipped: number }> {
  if (!isObject(doc) || !Array.isArray(doc.statements))
    return { ok: false, reason: "not an OpenVEX document" };
  if (doc.statements.length > VULN_LIMITS.vexStatements)
    return { ok: false, reason: `more than ${VULN_LIMITS.vexStatements} VEX statements` };
  const docTime = timeMs(doc.timestamp);
  const statements: VexStatement[] = [];
  let skipped = 0;
  for (const [order, s] of doc.statements.entries()) {
    const v = at(s, "vulnerability");
    const vulnerability = text(typeof v === "string" ? v : str(v, "name"));
    const status = str(s, "status") as VulnStatus | undefined;
    const justification = text(str(s, "justification"));
    if (!vulnerability || !status || !STATUSES.includes(status)) {
      skipped++;
      continue;
    }
    if (status === "not_affected" && !justification) {
      skipped++;
      continue;
    }
    const products = arr(s, "products").slice(0, 256);
    statements.push({
      vulnerability,
      aliases: isObject(v) ? arr(v, "aliases").slice(0, VULN_LIMITS.aliases).map(text).filter(Boolean) : [],
      products: products.flatMap(productIds),
      subcomponents: products
        .flatMap((p) => arr(p, "subcomponents").slice(0, 256))
        .flatMap(productIds)
        .map(parsePurl)
        .filter((p): p is Purl => p !== null),
      status,
      ...(justification ? { justification } : {}),
      time: timeMs(str(s, "timestamp")) || docTime,
      order,
    });
  }
  return { ok: true, value: { statements, skipped } };
}

/** What a VEX product must match: the image's digests and its repository. */
export interface VexImage {
  /** Index, manifest and config digests, `sha256:<hex>`. */
  digests: readonly string[];
  /** `registry/repository`, e.g. `docker.io/library/alpine`. */
  repository: string;
}

/**
 * True when a product names this image: a digest of it, or a `pkg:oci` purl whose version is one
 * of its digests, or (without a version) whose name and `repository_url` match its repository.
 */
export function productMatches(product: string, image: VexImage): boolean {
  if (image.digests.includes(product)) return true;
  const purl = parsePurl(product);
  if (purl?.type !== "oci") return false;
  if (purl.version) return image.digests.includes(purl.version);
  const repoName = image.repository.slice(image.repository.lastIndexOf("/") + 1);
  if (purl.name !== repoName) return false;
  const url = purl.qualifiers.repository_url;
  return (
    url === undefined ||
    image.repository === url ||
    image.repository.endsWith(`/${url}`) ||
    url.endsWith(`/${image.repository}`)
  );
}

function itemMatches(s: VexStatement, item: VulnItem): boolean {
  const ids = [s.vulnerability, ...s.aliases];
  if (!ids.includes(item.id) && !item.aliases.some((a) => ids.includes(a))) return false;
  if (s.subcomponents.length === 0) return true;
  const purl = item.purl ? parsePurl(item.purl) : null;
  return purl !== null && s.subcomponents.some((sub) => purlMatches(sub, purl));
}

/**
 * Sets each item's status from the newest statement about it that names this image.
 * `under_investigation` changes nothing (as Trivy reads it: the scanner's finding stands).
 */
export function applyVex(
  items: readonly VulnItem[],
  statements: readonly VexStatement[],
  image: VexImage,
): VulnItem[] {
  const relevant = statements
    .filter((s) => s.status !== "under_investigation" && s.products.some((p) => productMatches(p, image)))
    .sort((a, b) => a.time - b.time || a.order - b.order);
  return items.map((item) => {
    let newest: VexStatement | undefined;
    for (const s of relevant) if (itemMatches(s, item)) newest = s;
    if (!newest) return item;
    const out: VulnItem = { ...item, status: newest.status };
    if (newest.justification) out.vex = newest.justification;
    return out;
  });
}
