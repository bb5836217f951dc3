/**
 * The policy file's schema (../shared/CONTRACT.md, "The policy file"). Every field is optional;
 * what is left out takes the default here. Defaults are named once, with why.
 */
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import { isCheckId } from "../checks/types.js";

// zod/mini rather than zod's chained API: the program loads the policy schema on every `check`,
// and the chained API's ~390 KB (every method of every schema, built for each schema made) was
// the largest part of the CLI's start-up; mini keeps only what this schema uses. Same core, same
// issues; mini sets no message locale by itself, so English (the chained API's default) is set.
z.config(en());

const severity = z.enum(["info", "low", "medium", "high", "critical"]);

/** Host with optional port, as registries are named in references (`ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`). */
const registryHost = z
  .string()
  .check(
    z.minLength(1),
    z.regex(
      /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/,
      "a registry host such as ghcr.io or 127.0.0.1:5000",
    ),
  );

/**
 * True for a real calendar day. `toISOString` throws "Invalid time value" on month 13, which used to
 * escape as the whole error message, so validity is tested first; a day that rolls over (02-30
 * reads as 03-02) is caught by comparing the text back.
 */
function isCalendarDate(s: string): boolean {
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(s);
}

const isoDate = z.union([
  z
    .string()
    .check(
      z.regex(/^\d{4}-\d{2}-\d{2}$/, "a date YYYY-MM-DD"),
      z.refine(isCalendarDate, "a real calendar date YYYY-MM-DD"),
    ),
  // YAML parses an unquoted 2027-03-31 as a Date; accept it and normalize.
  z.pipe(
    z.date().check(z.refine((d) => !Number.isNaN(d.getTime()), "a real calendar date YYYY-MM-DD")),
    z.transform((d: Date) => d.toISOString().slice(0, 10)),
  ),
]);

/** A string that is not empty. */
const nonEmpty = () => z.string().check(z.minLength(1));

const trustKey = z
  .strictObject({
    name: nonEmpty(),
    pem: z.optional(z.string().check(z.includes("-----BEGIN", { message: "a PEM public key" }))),
    path: z.optional(nonEmpty()),
  })
  .check(
    z.refine((k) => (k.pem === undefined) !== (k.path === undefined), {
      message: "exactly one of pem or path",
    }),
  );

const keylessIdentity = z.strictObject({
  issuer: nonEmpty(),
  subject: nonEmpty(),
});

const notaryServer = z.strictObject({
  registry: registryHost,
  server: z.url(),
  // The repository's root key id, as root.json lists it under roles.root.keyids: without it (or
  // the root's public key in trust.keys) a root is only trusted on first use, never `verified`.
  rootKeyId: z.optional(
    z
      .string()
      .check(z.regex(/^[0-9a-f]{64}$/, "a root key id: 64 lowercase hex digits, as root.json lists it")),
  ),
});

/** A check id of the contract; a typo would otherwise silently change nothing. */
const checkId = z
  .string()
  .check(
    z.refine(
      (s): boolean => isCheckId(s),
      "a check id such as config.root-user (see image-check policy --print-default)",
    ),
  );

/** A vulnerability id (CVE-..., GHSA-..., ALPINE-CVE-..., DSA-...): any alias of it matches. */
const vulnerabilityId = z
  .string()
  .check(z.regex(/^[A-Za-z][A-Za-z0-9._:-]{1,99}$/, "a vulnerability id such as CVE-2024-1234"));

/** Waives one check, or one vulnerability (`vulnerability` instead of `check`), for matching images. */
const exception = z
  .strictObject({
    check: z.optional(checkId),
    vulnerability: z.optional(vulnerabilityId),
    image: nonEmpty(),
    reason: nonEmpty(),
    expires: isoDate,
  })
  .check(
    z.refine((e) => (e.check === undefined) !== (e.vulnerability === undefined), {
      message: "exactly one of check or vulnerability",
    }),
  );

/** A whole number above zero. */
const positiveInt = () => z.number().check(z.int(), z.positive());

/** Defaults, each with the reason for its value. */
export const POLICY_DEFAULTS = {
  /** The most common server platform. */
  platform: "linux/amd64",
  /** Official images are curated by Docker; everything else must earn trust by policy. */
  trusted: ["docker.io/library/*"],
  /** Blocking is for what should never run; review is the default for anything doubtful. */
  reviewAt: "medium" as const,
  blockAt: "critical" as const,
  /** A year without a rebuild means a year of unpatched base-image CVEs. */
  maxAgeDays: 365,
  /** Larger images are slow to pull and usually carry build tooling that should not ship. */
  maxSizeMB: 500,
  /** Re-review at least quarterly: images and their risks change. */
  expireDays: 90,
  /** A pass needs no human; asking IT for it would train people to click approve blindly. */
  autoApprovePass: true,
  /** A fresh report for the same digest and policy is reused this long, saving registry calls. */
  reuseReportMinutes: 10,
  /**
   * One check's overall deadline, waits, retries and Retry-After included. A registry answers a
   * healthy check in well under a second; a minute leaves room for a slow one and a few retries,
   * while a hostile one can no longer hold a worker for minutes.
   */
  checkSeconds: 60,
  /** Slack checks one user may have queued or running: enough for a pair, not enough to starve others. */
  perUserInFlight: 2,
  /** Re-check approved digests daily: new CVEs and moved tags are news within a day. */
  watchIntervalHours: 24,
  /** Only what would have blocked revokes an approval by itself; anything less asks IT in the thread. */
  revokeAt: "critical" as const,
  /** Every source that needs no image layer, in the order a signed one is most likely to exist. */
  vulnSources: ["attestation", "vex", "sbom"] as ("attestation" | "vex" | "sbom")[],
  /** OSV is free, keyless and keys Debian and Alpine advisories by source package, as SBOMs name them. */
  vulnScannerKind: "osv" as const,
  vulnScannerUrl: "https://api.osv.dev",
  /** A CVE without a fix is something to know, not something the requester can act on by rebuilding. */
  includeUnfixed: false,
  /** Scanner databases change daily; a week-old scan misses that week's advisories. */
  vulnMaxAgeDays: 7,
  /** Anyone can push an attestation next to an image; only a trusted signer may clear vulnerabilities. */
  trustUnsigned: false,
  /** `serve`'s audit of what runs is off unless asked for: it needs IMAGE_CHECK_AUDIT_ENGINE too. */
  auditIntervalMinutes: 0,
};

/** The policy file, validated. Unknown fields are errors, so typos do not pass silently. */
export const policySchema = z.strictObject({
  version: z._default(z.literal(1), 1),
  platform: z._default(
    z.string().check(z.regex(/^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/, "os/arch or os/arch/variant")),
    POLICY_DEFAULTS.platform,
  ),
  registries: z.prefault(
    z.strictObject({
      trusted: z._default(z.array(nonEmpty()), POLICY_DEFAULTS.trusted),
      allowPrivate: z._default(z.array(registryHost), []),
      allowInsecure: z._default(z.array(registryHost), []),
    }),
    {},
  ),
  trust: z.prefault(
    z.strictObject({
      keys: z._default(z.array(trustKey), []),
      keyless: z._default(z.array(keylessIdentity), []),
      trustedRoot: z._default(z.nullable(nonEmpty()), null),
      notary: z._default(z.array(notaryServer), []),
    }),
    {},
  ),
  checks: z.prefault(
    z.strictObject({
      severity: z._default(z.record(checkId, severity), {}),
      disabled: z._default(z.array(checkId), []),
    }),
    {},
  ),
  verdict: z.prefault(
    z.strictObject({
      reviewAt: z._default(severity, POLICY_DEFAULTS.reviewAt),
      blockAt: z._default(severity, POLICY_DEFAULTS.blockAt),
    }),
    {},
  ),
  maxAgeDays: z._default(positiveInt(), POLICY_DEFAULTS.maxAgeDays),
  maxSizeMB: z._default(z.number().check(z.positive()), POLICY_DEFAULTS.maxSizeMB),
  approvals: z.prefault(
    z.strictObject({
      expireDays: z._default(positiveInt(), POLICY_DEFAULTS.expireDays),
      autoApprovePass: z._default(z.boolean(), POLICY_DEFAULTS.autoApprovePass),
      reuseReportMinutes: z._default(z.number().check(z.int(), z.gte(0)), POLICY_DEFAULTS.reuseReportMinutes),
    }),
    {},
  ),
  exceptions: z._default(z.array(exception), []),
  watch: z.prefault(
    z.strictObject({
      intervalHours: z._default(z.number().check(z.gte(0)), POLICY_DEFAULTS.watchIntervalHours),
      revokeAt: z._default(severity, POLICY_DEFAULTS.revokeAt),
      /** With IMAGE_CHECK_AUDIT_ENGINE set, `serve` audits that engine this often (0: never). */
      auditIntervalMinutes: z._default(z.number().check(z.gte(0)), POLICY_DEFAULTS.auditIntervalMinutes),
    }),
    {},
  ),
  vulnerabilities: z.prefault(
    z.strictObject({
      sources: z._default(
        z
          .array(z.enum(["attestation", "vex", "sbom"]))
          .check(z.refine((a) => new Set(a).size === a.length, "each source at most once")),
        POLICY_DEFAULTS.vulnSources,
      ),
      scanner: z.prefault(
        z.strictObject({
          kind: z._default(z.enum(["osv", "none"]), POLICY_DEFAULTS.vulnScannerKind),
          url: z._default(z.url({ protocol: /^https?$/ }), POLICY_DEFAULTS.vulnScannerUrl),
        }),
        {},
      ),
      includeUnfixed: z._default(z.boolean(), POLICY_DEFAULTS.includeUnfixed),
      maxAgeDays: z._default(positiveInt(), POLICY_DEFAULTS.vulnMaxAgeDays),
      trustUnsigned: z._default(z.boolean(), POLICY_DEFAULTS.trustUnsigned),
    }),
    {},
  ),
  limits: z.prefault(
    z.strictObject({
      checkSeconds: z._default(z.number().check(z.positive(), z.lte(3600)), POLICY_DEFAULTS.checkSeconds),
      perUserInFlight: z._default(positiveInt(), POLICY_DEFAULTS.perUserInFlight),
    }),
    {},
  ),
});

/** A policy file as written (fields optional). */
export type PolicyInput = z.input<typeof policySchema>;
/** A policy with every default applied. Key PEMs given by `path` are resolved to `pem` by the loader. */
export type Policy = z.output<typeof policySchema>;

/** The built-in default policy. */
export function defaultPolicy(): Policy {
  return policySchema.parse({});
}
