/**
 * Secret detection and masking, shared by `config.secret-env`, `config.credential`,
 * `history.secret`, `history.credential`, the run advice and the report builder. Pure.
 *
 * Two signals, each tuned against what other scanners are known to get wrong:
 * - a known token format in a value (AWS, GitHub, GitLab, Slack, Google, npm, Stripe, Docker Hub,
 *   private key blocks, JWTs, credentials in a URL): these fire whatever the variable is called;
 * - a secret-like *name* (`*_PASSWORD`, `*_TOKEN`, `API_KEY`, `_authToken`, ...) *with a literal
 *   value*. Not secrets: public key material and fingerprints (`GPG_KEY`, `*_GPG_KEYS`,
 *   `PUBLIC_KEY`), checksums (`*_SHA256`, `*_CHECKSUM`), pointers to secrets (`*_FILE`, `*_PATH`,
 *   `*_URL` without credentials), settings about secrets (`PASSWORD_MIN_LENGTH`, `AUTH_METHOD`),
 *   and values that are empty, references (`$TOKEN`, `${TOKEN}`), booleans, placeholders or paths.
 *
 * A secret value never leaves this module in full: findings and reports carry `mask(value)`.
 *
 * Every byte here comes from a registry, so every pattern runs in time linear in its input: no
 * two quantifiers can split the same run of characters two ways, a match can only start on a real
 * delimiter, and token bodies have the lengths their formats allow. On top of that, each value is
 * read up to `MAX_SCAN_CHARS` and each scan keeps at most `MAX_SECRETS` secrets; a value past either
 * limit is opaque (see `isOpaque`) and is never shown, not even partly.
 */

/** What kind of secret was found. */
export type SecretKind =
  | "aws-access-key-id"
  | "github-token"
  | "gitlab-token"
  | "slack-token"
  | "slack-webhook"
  | "google-api-key"
  | "npm-token"
  | "pypi-token"
  | "stripe-key"
  | "docker-hub-token"
  | "private-key"
  | "jwt"
  | "url-credentials"
  | "secret-name"
  | "password-option"
  | "chpasswd";

/** One secret found. `value` is internal: mask it before it goes anywhere. */
export interface SecretMatch {
  kind: SecretKind;
  /** The variable, option or key that holds it, when one does. */
  name?: string;
  value: string;
  /**
   * Shorter secrets found inside `value` and folded into this match by `dedupe`. They are listed
   * once (as this match), but each may also stand alone elsewhere in the text, so `redact` masks
   * them too.
   */
  covers?: string[];
}

/** A secret as findings show it: the value masked. */
export interface MaskedSecret {
  kind: SecretKind;
  name?: string;
  value: string;
}

/**
 * The most characters of one value (an env value, a label, an annotation, a history line, one
 * argument) that the scanner reads. Far above anything written by hand: a 4096-bit RSA private key
 * in PEM is about 3.3 KB, a JWT a few KB, the longest RUN lines of real Dockerfiles a few KB. Small
 * enough that scanning one value stays in the low milliseconds, so a config blob of several MiB
 * made of one huge label cannot hold the event loop (a synchronous regex cannot be aborted).
 * A longer value is still scanned over its first `MAX_SCAN_CHARS` characters, for findings, and is
 * masked entirely wherever it is printed, since the rest was never read.
 */
export const MAX_SCAN_CHARS = 64 * 1024;

/**
 * The most secrets one scan collects. A value that holds more is not a configuration mistake to
 * list item by item; stopping there keeps `dedupe` and `redact` (quadratic in the number of
 * secrets) bounded, and such a value is then masked entirely.
 */
export const MAX_SECRETS = 32;

/**
 * Known token formats, each anchored so that it does not match inside a longer identifier. Bodies
 * are bounded where the format has a length (GitHub's 36 to 251, AWS's 16, Google's 35, npm's 36;
 * 255 for the formats that only promise "at least"). A JWT has no length limit; its three segments
 * exclude the `.` between them and it starts only where a segment can, so it stays linear unbounded.
 */
const TOKEN_FORMATS: { kind: SecretKind; re: RegExp }[] = [
  { kind: "aws-access-key-id", re: /(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/g },
  { kind: "github-token", re: /(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9])/g },
  { kind: "github-token", re: /(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{40,255}(?![A-Za-z0-9_])/g },
  { kind: "gitlab-token", re: /(?<![A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,255}/g },
  // Bot, user, app-config, refresh (xoxe-, xoxe.xoxp-) and browser (xoxc-) tokens: every xox?- form.
  { kind: "slack-token", re: /(?<![A-Za-z0-9])(?:xoxe\.)?xox[a-z]-[A-Za-z0-9-]{10,255}/g },
  { kind: "slack-token", re: /(?<![A-Za-z0-9])xapp-\d-[A-Za-z0-9-]{10,255}/g },
  {
    kind: "slack-webhook",
    re: /https:\/\/hooks\.slack\.com\/services\/T[A-Za-z0-9_]{1,32}\/B[A-Za-z0-9_]{1,32}\/[A-Za-z0-9_]{1,64}/g,
  },
  { kind: "google-api-key", re: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g },
  { kind: "npm-token", re: /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])/g },
  // PyPI API tokens are macaroons: `pypi-` and base64url whose first bytes name the index (pypi.org,
  // test.pypi.org). Real ones are ~180 to 250 characters; 1000 leaves room for caveats.
  {
    kind: "pypi-token",
    re: /(?<![A-Za-z0-9_-])pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,1000}/g,
  },
  { kind: "stripe-key", re: /(?<![A-Za-z0-9_])[rs]k_live_[A-Za-z0-9]{20,255}/g },
  { kind: "docker-hub-token", re: /(?<![A-Za-z0-9_])dckr_pat_[A-Za-z0-9_-]{20,255}/g },
  {
    kind: "private-key",
    // Up to the END line, or to the end of the text when it was cut: the body must be masked too.
    // Header words are bounded (`RSA `, `ENCRYPTED `, `OPENSSH `, `PGP `), and the body is read once.
    re: /-----BEGIN (?:[A-Z0-9]{1,16} ){0,4}PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END (?:[A-Z0-9]{1,16} ){0,4}PRIVATE KEY(?: BLOCK)?-----|[\s\S]*$)/g,
  },
  // Header and payload are both base64url JSON objects, so both start with `eyJ` (`{"`).
  { kind: "jwt", re: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{8,}/g },
];

/**
 * `scheme://user:password@host`: the user and the password. A match starts at the `://`, then looks
 * back for a scheme: starting at the scheme instead made `a.a.a.a…` quadratic, every `a` starting a
 * scheme that ran to the end of the text. The lookbehind comes after the literal `://` so that it
 * runs only there, and it walks back over one run of scheme characters, which for different `://`
 * do not overlap. User and password stop at `/`, so they do not overlap either.
 */
const URL_CREDENTIALS = /:\/\/(?<=[a-z][a-z0-9+.-]*:\/\/)([^\s:@/?#'"]*):([^\s@/'"]+)@/gi;

/**
 * `KEY=value` inside a longer text (a command, `JAVA_OPTS`, a connection string). The match starts
 * only where a run of name characters starts, so each run is read once; the name is then the run
 * from its first letter that follows a delimiter (`-Ddb.password=x` names `Ddb.password`). Starting
 * the name after every `.` and `-` made `a.a.a.a…` quadratic.
 */
const EMBEDDED_ASSIGNMENT = /(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]+)=(?!=)("[^"]*"|'[^']*'|[^\s&;,'"|)]+)/g;

/** Name tokens that mark a secret on their own. */
const SECRET_TOKENS = new Set([
  "password",
  "passwd",
  "pass",
  "passphrase",
  "passcode",
  "secret",
  "token",
  "apikey",
  "apitoken",
  "accesskey",
  "secretkey",
  "privatekey",
  "credential",
  "credentials",
  "creds",
  "auth",
  "authtoken",
]);

/** Adjacent name tokens that mark a secret together (`API_KEY`, `apiKey`, `LICENSE_KEY`). */
const SECRET_PAIRS = new Set([
  "api key",
  "access key",
  "private key",
  "signing key",
  "encryption key",
  "master key",
  "license key",
  "session key",
  "account key",
  "storage key",
  "shared key",
]);

/**
 * A last name token that makes the variable *about* a secret rather than the secret itself:
 * where it is (`_FILE`, `_PATH`, `_URL`), who uses it (`_USER`), how it is checked (`_SHA256`,
 * `_FINGERPRINT`), or a setting (`_LENGTH`, `_METHOD`, `_ENABLED`).
 */
const NOT_SECRET_LAST = new Set([
  "file",
  "files",
  "path",
  "paths",
  "dir",
  "directory",
  "url",
  "uri",
  "endpoint",
  "server",
  "host",
  "hostname",
  "port",
  "user",
  "username",
  "login",
  "name",
  "id",
  "ids",
  "length",
  "len",
  "size",
  "min",
  "max",
  "ttl",
  "expiry",
  "expires",
  "expiration",
  "lifetime",
  "timeout",
  "interval",
  "rotation",
  "days",
  "count",
  "retries",
  "attempts",
  "enabled",
  "enable",
  "disabled",
  "disable",
  "required",
  "require",
  "type",
  "algorithm",
  "algo",
  "alg",
  "header",
  "method",
  "mode",
  "policy",
  "provider",
  "issuer",
  "audience",
  "scope",
  "scopes",
  "fingerprint",
  "fingerprints",
  "sha",
  "sha1",
  "sha256",
  "sha384",
  "sha512",
  "md5",
  "checksum",
  "checksums",
  "hash",
  "version",
  "format",
  "prefix",
  "suffix",
  "location",
  "stdin",
  "command",
  "cmd",
  "helper",
  "store",
  "backend",
  "env",
  "var",
]);

/** Tokens anywhere in the name that mark public material. */
const PUBLIC_TOKENS = new Set(["public", "publishable", "pub"]);

const BOOLEANISH = new Set([
  "true",
  "false",
  "yes",
  "no",
  "on",
  "off",
  "y",
  "n",
  "enabled",
  "disabled",
  "none",
  "null",
  "nil",
  "undefined",
  "unset",
]);

const PLACEHOLDER =
  /^(?:<[^>]*>|\{\{.*\}\}|%[A-Za-z_]+%|x{3,}|\*{3,}|\.{3}|-+|change[-_ ]?me|changeit|replace[-_ ]?me|your[-_ ][a-z_ -]*|example|dummy|placeholder|todo|tbd)$/i;

/** Lower-case word tokens of a variable name: `_authToken` -> `auth token`, `DB_PASS` -> `db pass`. */
export function nameTokens(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** True when a name says it holds a secret (and is not about one, nor public). */
export function isSecretName(name: string): boolean {
  const tokens = nameTokens(name);
  if (tokens.length === 0) return false;
  if (tokens.some((t) => PUBLIC_TOKENS.has(t))) return false;
  if (NOT_SECRET_LAST.has(tokens[tokens.length - 1]!)) return false;
  if (tokens.some((t) => SECRET_TOKENS.has(t))) return true;
  for (let i = 0; i + 1 < tokens.length; i++)
    if (SECRET_PAIRS.has(`${tokens[i]} ${tokens[i + 1]}`)) return true;
  return false;
}

/**
 * True when a value could be a literal secret: not empty, a reference, a boolean, a placeholder, a
 * path or a plain URL. Judged by its first `MAX_SCAN_CHARS`, so a longer value counts as literal.
 */
export function isLiteralSecretValue(value: string): boolean {
  const v = unquote(head(value).trim());
  if (v.length < 3) return false;
  if (/^\$(?:\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*|\(.*\))$/s.test(v) || /^`.*`$/s.test(v)) return false;
  if (/^%[A-Za-z_][A-Za-z0-9_]*%$/.test(v)) return false;
  if (BOOLEANISH.has(v.toLowerCase())) return false;
  if (/^\d{1,3}$/.test(v)) return false;
  if (PLACEHOLDER.test(v)) return false;
  if (/^(?:\/|\.\.?\/|~\/|file:)\S*$/.test(v)) return false;
  if (/^[a-z][a-z0-9+.-]*:\/\/[^@\s]*$/i.test(v)) return false;
  return true;
}

/** The part of a value the scanner reads: its first `MAX_SCAN_CHARS` characters. */
function head(text: string): string {
  return text.length > MAX_SCAN_CHARS ? text.slice(0, MAX_SCAN_CHARS) : text;
}

/**
 * Adds `m` to `out` unless a match with its value is there already. False once `out` holds more
 * than `MAX_SECRETS`: the caller stops scanning, and the one match too many says that it stopped.
 */
export function collectSecret(out: SecretMatch[], m: SecretMatch): boolean {
  if (!out.some((k) => k.value === m.value)) out.push(m);
  return out.length <= MAX_SECRETS;
}

/** Known token formats in a text (its first `MAX_SCAN_CHARS`). */
export function findTokens(text: string): SecretMatch[] {
  const scanned = head(text);
  const out: SecretMatch[] = [];
  for (const { kind, re } of TOKEN_FORMATS) {
    for (const m of scanned.matchAll(re)) if (!collectSecret(out, { kind, value: m[0] })) return out;
  }
  return out;
}

/** Passwords in `scheme://user:password@host` URLs of a text (its first `MAX_SCAN_CHARS`). */
export function findUrlCredentials(text: string): SecretMatch[] {
  const out: SecretMatch[] = [];
  for (const m of head(text).matchAll(URL_CREDENTIALS)) {
    const password = m[2]!;
    if (!isLiteralSecretValue(password)) continue;
    if (!collectSecret(out, { kind: "url-credentials", name: m[1] || undefined, value: password })) break;
  }
  return out;
}

/** A secret-named variable with a literal value (kept whole, however long, so it is masked whole), or null. */
export function namedSecret(name: string, value: string): SecretMatch | null {
  if (!isSecretName(head(name)) || !isLiteralSecretValue(value)) return null;
  return { kind: "secret-name", name, value: unquote(value.trim()) };
}

/**
 * `KEY=value` pairs with a secret-like key inside a text (`-Ddb.password=x`, `?password=x`), over
 * its first `MAX_SCAN_CHARS`.
 */
export function findEmbeddedAssignments(text: string): SecretMatch[] {
  const out: SecretMatch[] = [];
  for (const m of head(text).matchAll(EMBEDDED_ASSIGNMENT)) {
    const name = nameInRun(m[1]!);
    const hit = name === null ? null : namedSecret(name, m[2]!);
    if (hit && !collectSecret(out, hit)) break;
  }
  return out;
}

/**
 * The name in a run of name characters before `=`: from the first letter or `_` that starts the run
 * or follows a `.` or `-` in it (`-Ddb.password` holds `Ddb.password`, `1.5.token` holds `token`).
 */
function nameInRun(run: string): string | null {
  const m = /(?:^|[.-])[A-Za-z_]/.exec(run);
  return m ? run.slice(m.index + m[0].length - 1) : null;
}

/** Every secret in a free text value: token formats, URL credentials, embedded `KEY=value`. */
export function scanText(text: string): SecretMatch[] {
  return dedupe([...findTokens(text), ...findUrlCredentials(text), ...findEmbeddedAssignments(text)]);
}

/** Secrets in one `NAME=value` (an env var, a build arg, a label): by name, and inside the value. */
export function scanAssignment(name: string, value: string): SecretMatch[] {
  const inValue = scanText(value);
  const byName = namedSecret(name, value);
  // A token format found in the value says more than the name does; keep the name on it.
  const named = inValue.map((m) => (m.name ? m : { ...m, name }));
  if (byName && !named.some((m) => byName.value.includes(m.value))) named.unshift(byName);
  return dedupe(named);
}

/**
 * Drop matches whose value another match already covers. Past `MAX_SECRETS` distinct values only
 * exact repeats are dropped, and one match more than the limit is kept: the text they came from is
 * opaque then (masked whole), so which of them covers which no longer matters.
 */
export function dedupe(matches: readonly SecretMatch[]): SecretMatch[] {
  const distinct: SecretMatch[] = [];
  for (const m of matches) if (!collectSecret(distinct, m)) return distinct;
  const sorted = [...distinct].sort((a, b) => b.value.length - a.value.length);
  const kept = new Map<SecretMatch, SecretMatch>();
  for (const m of sorted) {
    const outer = [...kept.values()].find((k) => k.value.includes(m.value));
    if (!outer) kept.set(m, { ...m, covers: [...(m.covers ?? [])] });
    else outer.covers = [...(outer.covers ?? []), m.value, ...(m.covers ?? [])];
  }
  // Back to the order found, for stable output; `covers` only where something was folded in.
  return distinct.flatMap((m) => {
    const k = kept.get(m);
    if (!k) return [];
    if (k.covers?.length === 0) delete k.covers;
    return [k];
  });
}

/**
 * True when `text` may not be shown even with its secrets masked one by one: it is longer than
 * `MAX_SCAN_CHARS` (the rest was never read) or `matches` went past `MAX_SECRETS` (the scan stopped).
 */
export function isOpaque(text: string, matches: readonly SecretMatch[]): boolean {
  return text.length > MAX_SCAN_CHARS || matches.length > MAX_SECRETS;
}

/**
 * A secret as it may be shown: `AKIA…XYZ1 (20 chars)`. Short values show nothing of themselves,
 * since four characters from each end of an 8-character password is the password; nor do values
 * over `MAX_SCAN_CHARS`, which were not read in full.
 */
export function mask(value: string): string {
  const chars = [...value];
  const n = chars.length;
  const pem = /^-----BEGIN [A-Z0-9 ]+-----/.exec(value);
  if (pem) return `${pem[0]}… (${n} chars)`;
  const show = value.length > MAX_SCAN_CHARS ? 0 : n >= 20 ? 4 : n >= 12 ? 2 : 0;
  if (show === 0) return `… (${n} chars)`;
  return `${chars.slice(0, show).join("")}…${chars.slice(n - show).join("")} (${n} chars)`;
}

/** What an opaque text (see `isOpaque`) is shown as: its length, nothing of its content. */
export function maskWhole(text: string): string {
  return `… (${[...text].length} chars, not shown)`;
}

/**
 * `text` with every occurrence of every secret replaced by its mask; an opaque text (see
 * `isOpaque`) masked whole.
 */
export function redact(text: string, matches: readonly SecretMatch[]): string {
  if (isOpaque(text, matches)) return maskWhole(text);
  let out = text;
  const values = [...new Set(matches.flatMap((m) => [m.value, ...(m.covers ?? [])]))].sort(
    (a, b) => b.length - a.length,
  );
  for (const v of values) if (v.length > 0) out = out.split(v).join(mask(v));
  return out;
}

/** `text` with every secret `scanText` finds masked: for labels, env values and commands in a report. */
export function redactText(text: string): string {
  return redact(text, scanText(text));
}

/** The evidence form of matches: values masked. */
export function masked(matches: readonly SecretMatch[]): MaskedSecret[] {
  return matches.map((m) =>
    m.name ? { kind: m.kind, name: m.name, value: mask(m.value) } : { kind: m.kind, value: mask(m.value) },
  );
}

/**
 * Formats that say on their own that a credential is live: a service issued it in that shape, with
 * a prefix that exists for scanners to find (GitHub, GitLab, Slack, npm, PyPI, Stripe live keys) or
 * a private key block. Not here: JWTs and URL passwords (often test fixtures or local defaults),
 * Google API keys and Docker Hub tokens (not in the contract's list), and an AWS access key id
 * alone (an id is not a credential without its secret: see `liveCredentials`).
 */
const LIVE_FORMATS: ReadonlySet<SecretKind> = new Set<SecretKind>([
  "github-token",
  "gitlab-token",
  "slack-token",
  "slack-webhook",
  "npm-token",
  "pypi-token",
  "stripe-key",
  "private-key",
]);

/**
 * An AWS secret access key, as a secret-named value holds it (AWS_SECRET_ACCESS_KEY,
 * aws_secret_access_key=...): 40 characters of base64 with both cases. A SHA-1 in hex or a GPG
 * fingerprint (one case only) is not one. Anchored, one class, fixed length: linear.
 */
export function isAwsSecretKey(match: SecretMatch): boolean {
  const v = match.value;
  return (
    match.name !== undefined &&
    /secret/i.test(match.name) &&
    /^[A-Za-z0-9/+]{40}$/.test(v) &&
    /[a-z]/.test(v) &&
    /[A-Z]/.test(v)
  );
}

/** True when `scope` (every match of one environment, or of one history) holds an AWS access key id and a secret access key. */
export function hasAwsKeyPair(scope: readonly SecretMatch[]): boolean {
  return scope.some((m) => m.kind === "aws-access-key-id") && scope.some(isAwsSecretKey);
}

/**
 * The matches that are credentials in a known live format: every match of a live format, and, when
 * `awsPair` (see `hasAwsKeyPair`, computed once per scope so that checking many steps stays linear),
 * every AWS access key id and secret access key: together they are a credential.
 */
export function liveCredentials(
  matches: readonly SecretMatch[],
  awsPair: boolean = hasAwsKeyPair(matches),
): SecretMatch[] {
  return matches.filter(
    (m) => isLiveFormat(m) || (awsPair && (m.kind === "aws-access-key-id" || isAwsSecretKey(m))),
  );
}

/**
 * The live format of a match: its own kind, or, for one found by its name whose value holds a live
 * token (`_authToken npm_...`: the name matched first, so the match carries the name's kind), that
 * token's kind. Null when it has none. One linear scan of the value.
 */
function liveKind(m: SecretMatch): SecretKind | null {
  if (LIVE_FORMATS.has(m.kind)) return m.kind;
  if (m.kind === "aws-access-key-id") return null;
  return findTokens(m.value).find((t) => LIVE_FORMATS.has(t.kind))?.kind ?? null;
}

function isLiveFormat(m: SecretMatch): boolean {
  return liveKind(m) !== null;
}

/** What a live credential is called in a sentence (an AWS secret is found by its name, a token by its format). */
export function describeCredential(m: SecretMatch): string {
  if (isAwsSecretKey(m)) return "an AWS secret access key";
  return describeKind(liveKind(m) ?? m.kind);
}

/** What a kind of secret is called in a sentence. */
export function describeKind(kind: SecretKind): string {
  return KIND_LABELS[kind];
}

const KIND_LABELS: Record<SecretKind, string> = {
  "aws-access-key-id": "an AWS access key id",
  "github-token": "a GitHub token",
  "gitlab-token": "a GitLab token",
  "slack-token": "a Slack token",
  "slack-webhook": "a Slack webhook URL",
  "google-api-key": "a Google API key",
  "npm-token": "an npm token",
  "pypi-token": "a PyPI token",
  "stripe-key": "a Stripe secret key",
  "docker-hub-token": "a Docker Hub access token",
  "private-key": "a private key",
  jwt: "a JSON Web Token",
  "url-credentials": "a password in a URL",
  "secret-name": "a secret-named value",
  "password-option": "a password option",
  chpasswd: "a password set with chpasswd",
};

function unquote(v: string): string {
  if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))))
    return v.slice(1, -1);
  return v;
}
