/**
 * Caps on vulnerability data, which comes from registries and files we do not trust. Each is far
 * above what real tools write and low enough that hostile input cannot hold a check (or serve's
 * event loop) for long; beyond a cap the source is refused with a one-line reason and the image
 * gets `vuln.no-data`, never a clean bill.
 */
export const VULN_LIMITS = {
  /** Bytes of one report, predicate or SBOM. Trivy reports of large images run to a few MB. */
  bytes: 16 * 1024 * 1024,
  /** Items in one source. The largest real images list a few thousand. */
  items: 20_000,
  /** Packages in one SBOM (a full distro image holds a few thousand). */
  packages: 20_000,
  /** Statements in one VEX document. */
  vexStatements: 10_000,
  /** Text fields (ids, names, versions) are cut to this many characters. */
  text: 200,
  /** Aliases kept per item. */
  aliases: 32,
};
