/**
 * History checks: what the build steps recorded in the config did (contract ids `history.*`).
 * Pure. Steps are read by `steps.ts` (legacy and BuildKit forms) and commands by `shell.ts`, so
 * `curl x | tar xz` is not `curl x | sh`, `apk add foo=1.2` is not a password, and `chmod 1777 /tmp`
 * is not `chmod 777 /app`.
 */
import type { ImageFacts } from "../facts/model.js";
import { clip, finding, listing, plural } from "./finding.js";
import {
  collectSecret,
  dedupe,
  describeCredential,
  describeKind,
  findEmbeddedAssignments,
  findTokens,
  findUrlCredentials,
  isAwsSecretKey,
  isLiteralSecretValue,
  isSecretName,
  liveCredentials,
  MAX_SCAN_CHARS,
  masked,
  maskWhole,
  redact,
  type SecretMatch,
  scanAssignment,
  scanText,
} from "./secrets.js";
import {
  basename,
  commandText,
  type ParsedOptions,
  type Pipeline,
  parseOptions,
  parseScript,
  pipelineText,
  type ResolvedCommand,
  resolveCommand,
  SHELLS,
  type Visit,
  type Word,
  walk,
} from "./shell.js";
import { type BuildStep, buildSteps, instructionPairs, parseStep, stepLabel } from "./steps.js";
import type { Check, Finding } from "./types.js";

/** Every history check over the facts. */
export const historyChecks: Check = (facts) => {
  const steps = buildSteps(facts.history);
  if (!steps.some((s) => s.createdBy.trim() !== "")) return [historyEmpty(facts)];
  return [
    ...perStep(steps, remoteScriptHits, remoteScriptFinding),
    ...perStep(steps, remoteAddHits, remoteAddFinding),
    ...perStep(steps, insecureFetchHits, insecureFetchFinding),
    ...secretFindings(steps, facts),
    ...perStep(steps, sudoHits, sudoFinding),
    ...perStep(steps, worldWritableHits, worldWritableFinding),
  ];
};

function historyEmpty(facts: ImageFacts): Finding {
  const n = facts.history.length;
  return finding(
    "history.empty",
    "The image has no build history to read",
    n === 0
      ? "Expected the config to record its build steps; it has none (squashed, or built by a tool that drops history). Nothing about how it was built can be reviewed: ask the publisher for the Dockerfile and a provenance attestation, or rebuild it yourself."
      : `Expected the config to record its build steps; its ${plural(n, "history entry")} say nothing (no created_by). Nothing about how it was built can be reviewed: ask the publisher for the Dockerfile and a provenance attestation.`,
    { historyEntries: n },
  );
}

/** Run `hits` on every step and make one finding per step that has any. */
function perStep(
  steps: BuildStep[],
  hits: (step: BuildStep) => string[],
  make: (step: BuildStep, hits: string[]) => Finding,
): Finding[] {
  const out: Finding[] = [];
  for (const step of steps) {
    const found = [...new Set(hits(step))];
    if (found.length) out.push(make(step, found));
  }
  return out;
}

/** Evidence common to every step finding. */
function stepEvidence(step: BuildStep, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    historyIndex: step.index,
    instruction: step.instruction || null,
    createdBy: clip(redactStep(step, step.createdBy), 400),
    ...extra,
  };
}

function where(step: BuildStep): string {
  return `history ${stepLabel(step)}${step.instruction ? ` (${step.instruction})` : ""}`;
}

// ---------------------------------------------------------------------------------------------
// history.remote-script

/** Per program family: options whose value is inline code (stdin is then data) and options taking a value. */
function family(
  name: string,
): { inline: string; inlineLong: string[]; valueShort: string; stdinFlag?: string } | null {
  if (SHELLS.test(name)) return { inline: "c", inlineLong: ["command"], valueShort: "oO", stdinFlag: "s" };
  if (/^python/.test(name)) return { inline: "cm", inlineLong: [], valueShort: "WX" };
  if (/^perl/.test(name)) return { inline: "eE", inlineLong: [], valueShort: "IM" };
  if (/^ruby/.test(name)) return { inline: "e", inlineLong: [], valueShort: "rI" };
  if (/^(?:node|nodejs|deno|bun)$/.test(name))
    return { inline: "ep", inlineLong: ["eval", "print"], valueShort: "r" };
  if (/^php/.test(name)) return { inline: "r", inlineLong: [], valueShort: "dc" };
  if (/^(?:pwsh|powershell)$/.test(name)) return { inline: "c", inlineLong: ["command"], valueShort: "" };
  if (/^lua/.test(name)) return { inline: "e", inlineLong: [], valueShort: "l" };
  return null;
}

/** True when a shell or interpreter takes its program from stdin: `sh`, `bash -s --`, `python3 -`. */
function readsProgramFromStdin(r: ResolvedCommand): boolean {
  const fam = family(r.name);
  if (!fam) return false;
  for (let i = 0; i < r.args.length; i++) {
    const t = r.args[i]!.text;
    if (t === "-") return true;
    // After `--` comes the script file, if any (`sh -s --` was handled by its -s).
    if (t === "--") return r.args[i + 1] === undefined || r.args[i + 1]!.text === "-";
    if (t.startsWith("--")) {
      if (fam.inlineLong.includes(t.slice(2).split("=")[0]!)) return false;
      continue;
    }
    if (/^[-+][A-Za-z]+$/.test(t)) {
      const letters = t.slice(1);
      if (fam.stdinFlag && letters.includes(fam.stdinFlag)) return true;
      if ([...letters].some((ch) => fam.inline.includes(ch))) return false;
      if (fam.valueShort.includes(letters[letters.length - 1]!)) i++;
      continue;
    }
    return false; // a script file: stdin is not the program
  }
  return true;
}

/** Shells, interpreters and the builtins that run text as code. */
function isExecutor(r: ResolvedCommand): boolean {
  return (
    family(r.name) !== null || r.name === "eval" || r.name === "source" || r.name === "." || r.name === "su"
  );
}

const CURL_VALUE_SHORT = "AbcCdDeEFHKmoPQrtTuUwxXyYz";
const CURL_VALUE_LONG = new Set([
  "output",
  "header",
  "data",
  "data-raw",
  "data-binary",
  "data-urlencode",
  "user",
  "proxy",
  "proxy-user",
  "user-agent",
  "referer",
  "cookie",
  "cookie-jar",
  "write-out",
  "request",
  "upload-file",
  "form",
  "max-time",
  "connect-timeout",
  "range",
  "continue-at",
  "cert",
  "key",
  "cacert",
  "capath",
  "config",
  "retry",
  "retry-delay",
  "retry-max-time",
  "url",
  "resolve",
  "connect-to",
  "interface",
  "limit-rate",
  "output-dir",
  "proto",
  "proto-redir",
  "max-filesize",
  "max-redirs",
  "oauth2-bearer",
  "netrc-file",
  "pass",
]);
const WGET_VALUE_SHORT = "OoaPtTwUeiBlARDIXQ";
const WGET_VALUE_LONG = new Set([
  "output-document",
  "output-file",
  "append-output",
  "directory-prefix",
  "tries",
  "timeout",
  "wait",
  "user-agent",
  "execute",
  "input-file",
  "base",
  "level",
  "accept",
  "reject",
  "domains",
  "header",
  "user",
  "password",
  "http-user",
  "http-password",
  "ca-certificate",
  "certificate",
  "private-key",
  "post-data",
  "referer",
  "load-cookies",
  "save-cookies",
]);

/** How a command downloads, when it is a downloader. */
interface Download {
  toStdout: boolean;
  file?: string;
  urls: string[];
  options: ParsedOptions;
}

function download(r: ResolvedCommand): Download | null {
  if (r.name === "curl") {
    const o = parseOptions(r.args, CURL_VALUE_SHORT, CURL_VALUE_LONG);
    const urls = [...o.positionals.map((w) => w.text), ...(o.values.get("url") ?? [])];
    const out = [...(o.values.get("o") ?? []), ...(o.values.get("output") ?? [])];
    if (out.length)
      return { toStdout: out.includes("-"), file: out.find((f) => f !== "-"), urls, options: o };
    if (o.flags.has("O") || o.flags.has("remote-name") || o.flags.has("remote-name-all"))
      return { toStdout: false, file: urlBasename(urls[0]), urls, options: o };
    return { toStdout: true, urls, options: o };
  }
  if (r.name === "wget") {
    const o = parseOptions(r.args, WGET_VALUE_SHORT, WGET_VALUE_LONG);
    const urls = o.positionals.map((w) => w.text);
    const out = [...(o.values.get("O") ?? []), ...(o.values.get("output-document") ?? [])];
    const stdout = (f: string) => f === "-" || f === "/dev/stdout";
    if (out.length)
      return { toStdout: out.some(stdout), file: out.find((f) => !stdout(f)), urls, options: o };
    return { toStdout: false, file: urlBasename(urls[0]), urls, options: o };
  }
  if (r.name === "fetch") {
    const o = parseOptions(r.args, "oTSNi", new Set(["output"]));
    const urls = o.positionals.map((w) => w.text);
    const out = [...(o.values.get("o") ?? []), ...(o.values.get("output") ?? [])];
    return {
      toStdout: out.includes("-"),
      file: out.find((f) => f !== "-") ?? urlBasename(urls[0]),
      urls,
      options: o,
    };
  }
  return null;
}

function urlBasename(url: string | undefined): string | undefined {
  if (!url) return undefined;
  // `[\s\S]` rather than `.`: a `.*$` that stops at a newline retries from every later `?`.
  const path = url.replace(/[?#][\s\S]*$/, "");
  const b = basename(path);
  return b && !b.includes(":") ? b : undefined;
}

/** A script (from a substitution) that downloads to stdout. */
function downloadsToStdout(script: string): boolean {
  for (const v of walk(script)) if (download(v.resolved)?.toStdout) return true;
  return false;
}

/** A word that is nothing but one substitution: `$(curl ...)`, `` `curl ...` ``, `<(curl ...)`. */
function soleSubstitution(w: Word): string | null {
  if (w.subs.length !== 1) return null;
  const t = w.text.trim();
  return /^(?:\$\(|<\(|`)[\s\S]*(?:\)|`)$/.test(t) ? w.subs[0]! : null;
}

const VERIFIERS =
  /^(?:sha1sum|sha256sum|sha384sum|sha512sum|shasum|b2sum|md5sum|gpg|gpg2|gpgv|cosign|minisign|signify)$/;

/** Files run as scripts: a downloaded binary run for `--version` is not what this check is about. */
const SCRIPT_FILE = /\.(?:sh|bash|zsh|py|pl|rb|js|php|ps1)$/;

function remoteScriptHits(step: BuildStep): string[] {
  if (step.script === null) return [];
  const hits: string[] = [];
  // Downloaded file's basename -> the first command that wrote it.
  const downloaded = new Map<string, string>();
  const wrote = (file: string, where: string) => {
    if (!downloaded.has(basename(file))) downloaded.set(basename(file), where);
  };
  let verified = false;
  const executed: { path: string; text: string }[] = [];
  for (const v of walk(step.script)) {
    const r = v.resolved;
    if (VERIFIERS.test(r.name) || (r.name === "openssl" && r.args[0]?.text === "dgst")) verified = true;
    if (v.position === 0) hits.push(...pipedIntoInterpreter(v.pipeline));
    // `bash <(curl ...)`, `python3 <(curl ...)`, `eval "$(curl ...)"`, `sh -c "$(wget -qO- ...)"`,
    // `bash <<< "$(curl ...)"`, `sh < <(curl ...)`.
    if (isExecutor(r)) {
      const words = [
        ...r.args,
        ...v.command.redirects.filter((x) => x.op.includes("<")).flatMap((x) => (x.target ? [x.target] : [])),
      ];
      if (
        words.some((w) => {
          const sub = soleSubstitution(w);
          return sub !== null && downloadsToStdout(sub);
        })
      )
        hits.push(commandText(v.command));
    }
    // `$(curl ...)` as the command itself runs what was downloaded.
    if (r.word && r.name === "" && r.word.subs.some(downloadsToStdout)) hits.push(commandText(v.command));
    // Download to a file, then run that file, with no checksum or signature check in the step.
    const d = download(r);
    if (d?.file) wrote(d.file, commandText(v.command));
    if (d?.toStdout) {
      for (const red of v.command.redirects) {
        if (/^>{1,2}$/.test(red.op) && red.target) wrote(red.target.text, commandText(v.command));
      }
    }
    const target = ranFile(r);
    if (target) executed.push({ path: target, text: commandText(v.command) });
  }
  if (!verified) {
    for (const e of executed) {
      const where = downloaded.get(basename(e.path));
      if (where !== undefined) hits.push(`${where} … ${e.text}`);
    }
  }
  return hits;
}

/** `curl ... | sh`, `wget -qO- ... | sudo bash -s --`, `curl ... |& python3 -`. */
function pipedIntoInterpreter(p: Pipeline): string[] {
  let downloadAt = -1;
  for (let i = 0; i < p.commands.length; i++) {
    const r = resolveCommand(p.commands[i]!);
    if (downloadAt === -1 && download(r)?.toStdout) downloadAt = i;
    else if (downloadAt !== -1 && readsProgramFromStdin(r)) return [pipelineText(p)];
  }
  return [];
}

/** The file a command runs: `sh install.sh`, `bash /tmp/x.sh`, `./install.sh`, `. ./env.sh`. */
function ranFile(r: ResolvedCommand): string | null {
  if (r.word && /^(?:\.{0,2}\/)/.test(r.word.text) && SCRIPT_FILE.test(r.name)) return r.word.text;
  if (r.name === "source" || r.name === ".") return r.args[0]?.text ?? null;
  if (family(r.name) && !readsProgramFromStdin(r)) {
    const fam = family(r.name)!;
    for (let i = 0; i < r.args.length; i++) {
      const t = r.args[i]!.text;
      if (t.startsWith("--")) continue;
      if (/^[-+][A-Za-z]+$/.test(t)) {
        if ([...t.slice(1)].some((ch) => fam.inline.includes(ch))) return null;
        if (fam.valueShort.includes(t[t.length - 1]!)) i++;
        continue;
      }
      return t;
    }
  }
  return null;
}

function remoteScriptFinding(step: BuildStep, hits: string[]): Finding {
  return finding(
    "history.remote-script",
    `${where(step)} runs a script straight from the network`,
    `Expected build steps to run only what was downloaded and verified (pinned version, checksum or signature); ${where(step)} runs downloaded code unverified: ${clip(redactStep(step, hits[0]!), 160)}. Whoever controls that URL (or the network path to it) controlled this build: download to a file, verify its sha256 or signature, then run it.`,
    stepEvidence(step, { commands: hits.map((h) => clip(redactStep(step, h), 300)) }),
  );
}

// ---------------------------------------------------------------------------------------------
// history.remote-add

function remoteAddHits(step: BuildStep): string[] {
  if (step.instruction !== "ADD") return [];
  const words = parseScript(step.args).flatMap((p) => p.commands.flatMap((c) => c.words));
  // ADD --checksum=sha256:... pins the content: the download cannot change under the build.
  if (words.some((w) => w.text.startsWith("--checksum="))) return [];
  const operands = words.filter((w) => !w.text.startsWith("--")).map((w) => w.text);
  const legacyIn = operands.lastIndexOf("in");
  const sources = legacyIn > 0 ? operands.slice(0, legacyIn) : operands.slice(0, -1);
  return sources.filter((s) => /^https?:\/\//i.test(s));
}

function remoteAddFinding(step: BuildStep, urls: string[]): Finding {
  const shown = urls.map((u) => redactStep(step, u));
  return finding(
    "history.remote-add",
    `${where(step)} ADDs a file from ${shown.length === 1 ? "a URL" : "URLs"}`,
    `Expected remote files to be pinned (ADD --checksum=sha256:..., or downloaded and verified in a RUN); ${where(step)} ADDs ${listing(shown.map((u) => clip(u, 120)))} with no checksum, so the image holds whatever that server sent at build time. Pin it with --checksum or verify it in the build.`,
    stepEvidence(step, { urls: shown }),
  );
}

// ---------------------------------------------------------------------------------------------
// history.insecure-fetch

const LOOPBACK_URL = /^https?:\/\/(?:localhost|127(?:\.\d+){3}|\[::1\]|0\.0\.0\.0)(?::\d+)?(?:[/?#]|$)/i;
const PLAIN_HTTP = (s: string) => /^http:\/\//i.test(s) && !LOOPBACK_URL.test(s);

/** Environment settings that turn TLS or signature checks off for what runs after them. */
const INSECURE_ENV: Record<string, RegExp> = {
  NODE_TLS_REJECT_UNAUTHORIZED: /^0$/,
  GIT_SSL_NO_VERIFY: /^(?:1|true|yes)$/i,
  PYTHONHTTPSVERIFY: /^0$/,
  CURL_INSECURE: /^(?:1|true|yes)$/i,
  PIP_TRUSTED_HOST: /\S/,
  NPM_CONFIG_STRICT_SSL: /^(?:false|0)$/i,
};

const ASSIGNING_BUILTINS = new Set(["export", "declare", "typeset", "readonly", "local"]);

function insecureFetchHits(step: BuildStep): string[] {
  const hits: string[] = [];
  if (step.instruction === "ADD") {
    for (const u of remoteAddSources(step)) if (PLAIN_HTTP(u)) hits.push(`ADD ${u}`);
  }
  if (step.instruction === "ENV") {
    for (const p of instructionPairs(step.args))
      if (p.value !== undefined && INSECURE_ENV[p.name]?.test(p.value)) hits.push(`ENV ${p.name}=${p.value}`);
  }
  if (step.script === null) return hits;
  for (const v of walk(step.script)) {
    const r = v.resolved;
    const text = commandText(v.command);
    for (const a of r.assignments) if (INSECURE_ENV[a.name]?.test(a.value)) hits.push(`${a.name}=${a.value}`);
    if (ASSIGNING_BUILTINS.has(r.name)) {
      for (const a of r.args) {
        const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(a.text);
        if (m && INSECURE_ENV[m[1]!]?.test(m[2]!)) hits.push(text);
      }
    }
    const d = download(r);
    if (d) {
      const o = d.options;
      if (r.name === "curl" && (o.flags.has("k") || o.flags.has("insecure") || o.flags.has("proxy-insecure")))
        hits.push(text);
      if (r.name === "wget" && o.flags.has("no-check-certificate")) hits.push(text);
      if (d.urls.some(PLAIN_HTTP)) hits.push(text);
      continue;
    }
    const joined = r.args.map((a) => a.text).join(" ");
    const all = [r.name, ...r.args.map((a) => a.text)];
    switch (true) {
      case r.name === "git":
        if (/http\.sslverify[= ](?:false|0|no|off)\b/i.test(joined)) hits.push(text);
        else if (
          /^(?:clone|fetch|pull|ls-remote|submodule|remote)$/.test(r.args[0]?.text ?? "") &&
          r.args.some((a) => PLAIN_HTTP(a.text))
        )
          hits.push(text);
        break;
      case /^(?:pip[0-9.]*|pipx|uv|poetry)$/.test(r.name) ||
        (/^python/.test(r.name) && joined.includes("-m pip")):
        if (all.some((a) => a === "--trusted-host" || a.startsWith("--trusted-host="))) hits.push(text);
        else if (all.some((a) => PLAIN_HTTP(a.replace(/^--[a-z-]+=/, "")))) hits.push(text);
        break;
      case /^(?:npm|yarn|pnpm)$/.test(r.name):
        if (
          /strict-ssl[= ](?:false|0)\b/i.test(joined) ||
          all.some((a) => PLAIN_HTTP(a.replace(/^--registry=/, "")))
        )
          hits.push(text);
        break;
      case r.name === "apk":
        if (all.includes("--allow-untrusted")) hits.push(text);
        break;
      case /^(?:apt-get|apt|aptitude)$/.test(r.name):
        if (
          all.some(
            (a) =>
              a === "--allow-unauthenticated" || a === "--allow-insecure-repositories" || a === "--force-yes",
          ) ||
          /Verify-(?:Peer|Host)=(?:false|0)|AllowInsecureRepositories=(?:true|1)|AllowUnauthenticated=(?:true|1)/i.test(
            joined,
          )
        )
          hits.push(text);
        break;
      case /^(?:yum|dnf|microdnf|tdnf|zypper|rpm)$/.test(r.name):
        if (all.some((a) => a === "--nogpgcheck" || a === "--no-gpg-checks" || a === "--nosignature"))
          hits.push(text);
        break;
    }
    // `echo insecure >> ~/.curlrc`, `echo check_certificate=off >> /etc/wgetrc`: every later download.
    for (const red of v.command.redirects) {
      const t = red.target?.text ?? "";
      if (/\.?curlrc$/.test(t) && /(?:^|\s)(?:insecure|-k)(?:\s|$)/.test(joined)) hits.push(text);
      if (/\.?wgetrc$/.test(t) && /check_certificate\s*=\s*off/i.test(joined)) hits.push(text);
    }
  }
  return hits;
}

/** Every source of an ADD (not just the remote ones). */
function remoteAddSources(step: BuildStep): string[] {
  const words = parseScript(step.args).flatMap((p) => p.commands.flatMap((c) => c.words));
  return words.map((w) => w.text).filter((t) => /^https?:\/\//i.test(t));
}

function insecureFetchFinding(step: BuildStep, hits: string[]): Finding {
  const shown = hits.map((h) => clip(redactStep(step, h), 300));
  return finding(
    "history.insecure-fetch",
    `${where(step)} downloads without transport security`,
    `Expected every download to use https with certificate checks (and signature checks for packages); ${where(step)} does not: ${clip(shown[0]!, 160)}. Anyone on the network path could have swapped what was installed: use https, drop -k/--insecure/--no-check-certificate/--trusted-host, and verify a checksum.`,
    stepEvidence(step, { commands: shown }),
  );
}

// ---------------------------------------------------------------------------------------------
// history.secret

/** Package managers' install commands: their `name=version` arguments are pins, not assignments. */
function isPackageInstall(r: ResolvedCommand): boolean {
  const sub = r.args.find((a) => !a.text.startsWith("-"))?.text ?? "";
  switch (true) {
    case /^(?:apt-get|apt|aptitude|yum|dnf|microdnf|tdnf|zypper|choco|brew|conda|mamba|micromamba|cargo|gem|pip[0-9.]*|pipx|uv|poetry|composer|go|npm|pnpm|yarn|bundle|pecl|cpanm)$/.test(
      r.name,
    ):
      return /^(?:install|in|add|require|get|create|global|i|upgrade)$/.test(sub) || r.name === "cpanm";
    case r.name === "apk":
      return sub === "add";
    case r.name === "dpkg" || r.name === "rpm":
      return r.args.some((a) => /^-[A-Za-z]*[iU]/.test(a.text));
    case /^python/.test(r.name):
      return r.args
        .map((a) => a.text)
        .join(" ")
        .includes("-m pip install");
    default:
      return false;
  }
}

const MYSQL =
  /^(?:mysql|mysqladmin|mysqldump|mysqlimport|mysqlshow|mysqlcheck|mariadb|mariadb-admin|mariadb-dump)$/;
const REGISTRY_LOGIN = /^(?:docker|podman|buildah|nerdctl|skopeo|helm|oras|crane|regctl)$/;

/** Secrets one command carries. */
function commandSecrets(v: Visit): SecretMatch[] {
  const r = v.resolved;
  const out: SecretMatch[] = [];
  for (const a of r.assignments) out.push(...scanAssignment(a.name, a.value));
  if (ASSIGNING_BUILTINS.has(r.name)) {
    for (const a of r.args) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/.exec(a.text);
      if (m) out.push(...scanAssignment(m[1]!, m[2]!));
    }
    return out;
  }
  const pins = isPackageInstall(r);
  for (let i = 0; i < r.args.length; i++) {
    const t = r.args[i]!.text;
    const long = /^--([A-Za-z][A-Za-z0-9_.-]*)(?:=([\s\S]*))?$/.exec(t);
    if (long) {
      const name = long[1]!;
      if (isSecretName(name)) {
        const next = r.args[i + 1]?.text;
        const value = long[2] ?? (next !== undefined && !next.startsWith("-") ? next : undefined);
        // `--secret id=npmrc,src=.npmrc` says where a secret is; it is not one.
        const spec = value !== undefined && /^[a-z_]+=/.test(value);
        if (value !== undefined && !spec && isLiteralSecretValue(value))
          out.push({ kind: "password-option", name: `--${name}`, value });
      }
      continue;
    }
    if (pins && !t.startsWith("-")) continue;
    out.push(...findEmbeddedAssignments(t));
  }
  // `-p` means a password only for these programs (`mkdir -p` does not).
  if (MYSQL.test(r.name)) {
    for (const a of r.args) {
      const m = /^-p(.+)$/.exec(a.text);
      if (m && isLiteralSecretValue(m[1]!)) out.push({ kind: "password-option", name: "-p", value: m[1]! });
    }
  }
  if ((REGISTRY_LOGIN.test(r.name) && r.args.some((a) => a.text === "login")) || r.name === "sshpass") {
    for (let i = 0; i < r.args.length; i++) {
      const t = r.args[i]!.text;
      const value = t === "-p" ? r.args[i + 1]?.text : /^-p(.+)$/.exec(t)?.[1];
      if (value !== undefined && isLiteralSecretValue(value))
        out.push({ kind: "password-option", name: "-p", value });
    }
  }
  if (r.name === "htpasswd") {
    const parsed = parseOptions(r.args, "", new Set());
    if (parsed.flags.has("b")) {
      const last = parsed.positionals[parsed.positionals.length - 1]?.text;
      if (last !== undefined && isLiteralSecretValue(last))
        out.push({ kind: "password-option", name: "htpasswd -b", value: last });
    }
  }
  if (r.name === "curl" || r.name === "wget") {
    const parsed =
      r.name === "curl"
        ? parseOptions(r.args, CURL_VALUE_SHORT, CURL_VALUE_LONG)
        : parseOptions(r.args, WGET_VALUE_SHORT, WGET_VALUE_LONG);
    for (const u of [
      ...(parsed.values.get("u") ?? []),
      ...(parsed.values.get("user") ?? []),
      ...(parsed.values.get("proxy-user") ?? []),
    ]) {
      const pass = u.includes(":") ? u.slice(u.indexOf(":") + 1) : "";
      if (isLiteralSecretValue(pass)) out.push({ kind: "password-option", name: "--user", value: pass });
    }
    for (const bearer of parsed.values.get("oauth2-bearer") ?? [])
      if (isLiteralSecretValue(bearer))
        out.push({ kind: "password-option", name: "--oauth2-bearer", value: bearer });
    for (const h of [...(parsed.values.get("H") ?? []), ...(parsed.values.get("header") ?? [])]) {
      const m = /^([A-Za-z0-9-]+)\s*:\s*(.*)$/.exec(h);
      if (!m) continue;
      const value = /^(?:proxy-)?authorization$/i.test(m[1]!)
        ? m[2]!.replace(/^(?:Bearer|Basic|token|Digest)\s+/i, "")
        : m[2]!;
      if ((/authorization$/i.test(m[1]!) || isSecretName(m[1]!)) && isLiteralSecretValue(value))
        out.push({ kind: "password-option", name: `header ${m[1]}`, value });
    }
  }
  // `npm config set //registry.npmjs.org/:_authToken abc`
  if (/^(?:npm|yarn|pnpm)$/.test(r.name) && r.args[0]?.text === "config" && r.args[1]?.text === "set") {
    const key = r.args[2]?.text ?? "";
    const value = r.args[3]?.text;
    if (!key.includes("=") && value !== undefined && isSecretName(key) && isLiteralSecretValue(value))
      out.push({ kind: "secret-name", name: key, value });
  }
  // `echo 'root:hunter2' | chpasswd`: the commands before it in the pipeline, back to an earlier
  // chpasswd (which read those before it), so `| chpasswd | chpasswd …` reads each once.
  if (r.name === "chpasswd") {
    const commands = v.pipeline.commands;
    let from = Math.max(0, v.position - 1);
    while (from > 0 && resolveCommand(commands[from]!).name !== "chpasswd") from--;
    for (const c of commands.slice(from, v.position)) {
      for (const w of c.words.slice(1)) {
        const m = /^[^:\s]+:(\S+)$/.exec(w.text);
        if (m && isLiteralSecretValue(m[1]!)) out.push({ kind: "chpasswd", value: m[1]! });
      }
    }
  }
  return out;
}

const secretCache = new WeakMap<BuildStep, SecretMatch[]>();

/**
 * Every secret a build step carries (memoized per step: several checks redact with it). A line
 * longer than `MAX_SCAN_CHARS` is read over its first `MAX_SCAN_CHARS` (and shown nowhere: see
 * `redactStep`); reading stops past `MAX_SECRETS`, which makes the step opaque.
 */
export function stepSecrets(step: BuildStep): SecretMatch[] {
  const hit = secretCache.get(step);
  if (hit) return hit;
  const read =
    step.createdBy.length > MAX_SCAN_CHARS
      ? parseStep(step.createdBy.slice(0, MAX_SCAN_CHARS), step.index, step.emptyLayer)
      : step;
  const found: SecretMatch[] = [];
  scan: for (const batch of secretSources(read)) {
    for (const m of batch) if (!collectSecret(found, m)) break scan;
  }
  const out = dedupe(found);
  secretCache.set(step, out);
  return out;
}

/** Where a step's secrets are, one batch at a time, so that reading can stop early. */
function* secretSources(step: BuildStep): Generator<SecretMatch[]> {
  for (const a of step.buildArgs) yield scanAssignment(a.name, a.value);
  switch (step.instruction) {
    case "RUN":
      if (step.script !== null) for (const v of walk(step.script)) yield commandSecrets(v);
      yield findTokens(step.args);
      yield findUrlCredentials(step.args);
      break;
    case "ENV":
    case "ARG":
    case "LABEL":
      for (const p of instructionPairs(step.args))
        if (p.value !== undefined) yield scanAssignment(p.name, p.value);
      yield findTokens(step.args);
      yield findUrlCredentials(step.args);
      break;
    default:
      yield scanText(step.args);
  }
}

/**
 * `text` taken from a step (a command, a URL, the line itself) with the step's secrets masked; the
 * whole of it when the step was too long to read in full or held too many secrets.
 */
function redactStep(step: BuildStep, text: string): string {
  return step.createdBy.length > MAX_SCAN_CHARS ? maskWhole(text) : redact(text, stepSecrets(step));
}

/** Secrets of one history line (for the report's masked history). */
export function secretsInHistoryLine(createdBy: string): SecretMatch[] {
  return stepSecrets(parseStep(createdBy, 0));
}

/** Secrets of a command line read as a script (for the report's masked entrypoint and cmd). */
export function secretsInCommandLine(script: string): SecretMatch[] {
  const read = script.slice(0, MAX_SCAN_CHARS);
  return stepSecrets({ ...parseStep("", 0), instruction: "RUN", args: read, script: read });
}

function secretFindings(steps: BuildStep[], facts: ImageFacts): Finding[] {
  // An ENV whose value is still in the config is reported once, by config.secret-env or config.credential.
  const configEnv = new Set(facts.config.env);
  // An AWS key id is live with its secret, which may come in another step (ARG, then RUN).
  const awsPair =
    steps.some((s) => stepSecrets(s).some((m) => m.kind === "aws-access-key-id")) &&
    steps.some((s) => stepSecrets(s).some(isAwsSecretKey));
  const firstSeen = new Map<string, Finding>();
  const out: Finding[] = [];
  for (const step of steps) {
    let matches = stepSecrets(step);
    if (step.instruction === "ENV") {
      const stillInConfig = instructionPairs(step.args)
        .filter((p) => p.value !== undefined && configEnv.has(`${p.name}=${p.value}`))
        .map((p) => p.value!);
      matches = matches.filter((m) => !stillInConfig.some((v) => v.includes(m.value)));
    }
    // A build arg is repeated on every RUN after its ARG: report it where it first appears.
    const fresh: SecretMatch[] = [];
    for (const m of matches) {
      const earlier = firstSeen.get(m.value);
      if (earlier) {
        // Appended in place (steps come in order, so a repeat is the last entry): copying the list
        // each time made a history of thousands of RUNs sharing one build arg quadratic.
        const also = earlier.evidence.alsoIn as number[] | undefined;
        if (!also) earlier.evidence.alsoIn = [step.index];
        else if (also[also.length - 1] !== step.index) also.push(step.index);
      } else fresh.push(m);
    }
    if (fresh.length === 0) continue;
    // Live credentials are history.credential; what is a secret by its name only stays history.secret.
    const live = liveCredentials(fresh, awsPair);
    const named = fresh.filter((m) => !live.includes(m));
    for (const [group, credential] of [
      [live, true],
      [named, false],
    ] as const) {
      if (group.length === 0) continue;
      const f = secretFinding(step, group, credential);
      for (const m of group) firstSeen.set(m.value, f);
      out.push(f);
    }
  }
  return out;
}

function secretFinding(step: BuildStep, matches: readonly SecretMatch[], credential: boolean): Finding {
  const shown = masked(matches);
  const describe = (m: SecretMatch) => (credential ? describeCredential(m) : describeKind(m.kind));
  const what = matches.map((m, i) => `${describe(m)}${m.name ? ` in ${m.name}` : ""} (${shown[i]!.value})`);
  const buildArg = matches.some(
    (m) => step.buildArgs.some((a) => a.name === m.name) || step.instruction === "ARG",
  );
  const advice = buildArg
    ? "build args are stored in the image's history for anyone who can pull it: rotate the credential now, then pass it with `RUN --mount=type=secret` instead of ARG"
    : "anyone who can pull the image can read its history: rotate the credential now, then pass it at build time with `RUN --mount=type=secret` (never ARG, ENV or the command line)";
  return finding(
    credential ? "history.credential" : "history.secret",
    `${where(step)} carries ${matches.length === 1 ? describe(matches[0]!) : plural(matches.length, credential ? "live credential" : "secret")}`,
    credential
      ? `Expected no credentials in build steps; found ${listing(what)}, in a format its service issues for real use. ${advice[0]!.toUpperCase()}${advice.slice(1)}.`
      : `Expected no credentials in build steps; found ${listing(what)}. ${advice[0]!.toUpperCase()}${advice.slice(1)}.`,
    stepEvidence(step, { secrets: shown }),
  );
}

// ---------------------------------------------------------------------------------------------
// history.sudo

function sudoHits(step: BuildStep): string[] {
  if (step.script === null) return [];
  const hits: string[] = [];
  for (const v of walk(step.script)) {
    if (
      v.resolved.wrappers.includes("sudo") ||
      v.resolved.wrappers.includes("doas") ||
      v.resolved.name === "sudo"
    )
      hits.push(commandText(v.command));
  }
  return hits;
}

function sudoFinding(step: BuildStep, hits: string[]): Finding {
  const shown = hits.map((h) => clip(redactStep(step, h), 300));
  return finding(
    "history.sudo",
    `${where(step)} uses sudo`,
    `Expected build steps to run as the build user without sudo (RUN already runs as root unless USER says otherwise); ${where(step)} runs ${clip(shown[0]!, 120)}. sudo in an image usually means it is installed and configured there, so a process in the container may regain root: drop sudo and switch users with USER.`,
    stepEvidence(step, { commands: shown }),
  );
}

// ---------------------------------------------------------------------------------------------
// history.world-writable

/** True when a chmod mode makes files writable by everyone; sticky-bit modes (`1777`, `+t`) are the /tmp convention. */
export function worldWritableMode(mode: string): boolean {
  if (/^[0-7]{1,4}$/.test(mode)) {
    const m = mode.padStart(4, "0");
    return (Number(m[3]) & 2) !== 0 && (Number(m[0]) & 1) === 0;
  }
  let world = false;
  for (const clause of mode.split(",")) {
    const m = /^([ugoa]*)((?:[-+=][rwxXstugo]*)+)$/.exec(clause);
    if (!m) continue;
    const ops = m[2]!.match(/[-+=][rwxXstugo]*/g) ?? [];
    if (ops.some((op) => op[0] !== "-" && op.includes("t"))) return false;
    const who = m[1]!;
    if (!who.includes("o") && !who.includes("a")) continue;
    if (ops.some((op) => op[0] !== "-" && op.includes("w"))) world = true;
  }
  return world;
}

function worldWritableHits(step: BuildStep): string[] {
  const hits: string[] = [];
  if (step.instruction === "COPY" || step.instruction === "ADD") {
    const m = /(?:^|\s)--chmod=(\S+)/.exec(step.args);
    if (m && worldWritableMode(m[1]!)) hits.push(`${step.instruction} --chmod=${m[1]}`);
  }
  if (step.script === null) return hits;
  for (const v of walk(step.script)) {
    const r = v.resolved;
    const text = commandText(v.command);
    if (r.name === "chmod") {
      const o = parseOptions(r.args, "", new Set(["reference"]));
      const mode = o.positionals[0]?.text;
      if (mode && o.positionals.length > 1 && worldWritableMode(mode)) hits.push(text);
    } else if (r.name === "mkdir" || r.name === "install") {
      const o = parseOptions(
        r.args,
        r.name === "install" ? "mogtS" : "m",
        new Set(["mode", "owner", "group", "target-directory"]),
      );
      const modes = [...(o.values.get("m") ?? []), ...(o.values.get("mode") ?? [])];
      if (modes.some(worldWritableMode)) hits.push(text);
    } else if (r.name === "umask") {
      const mask = r.args[0]?.text ?? "";
      if (/^[0-7]{1,4}$/.test(mask) && (Number(mask.padStart(4, "0")[3]) & 2) === 0) hits.push(text);
    }
  }
  return hits;
}

function worldWritableFinding(step: BuildStep, hits: string[]): Finding {
  return finding(
    "history.world-writable",
    `${where(step)} makes files writable by everyone`,
    `Expected files and directories to be writable only by their owner (chown them to the app user instead); ${where(step)} runs ${clip(redactStep(step, hits[0]!), 120)}. Any process in the container, whatever its user, can then change them, including programs that run as root: use chown and mode 755/644 (or 1777 with the sticky bit for a shared scratch directory).`,
    stepEvidence(step, { commands: hits.map((h) => clip(redactStep(step, h), 300)) }),
  );
}
