/**
 * Contents checks: what is inside besides the app (contract id `contents.runtimes`). Pure: no layer
 * is read, so the evidence is what the config, history and SBOM attestations say.
 */
import { finding, listing } from "./finding.js";
import { basename, walk } from "./shell.js";
import { buildSteps, stepLabel } from "./steps.js";
import type { Check } from "./types.js";

/** The interpreters the contract names. */
export const RUNTIMES = ["python", "node", "perl", "ruby", "java", "php", "shell"] as const;
/** An interpreter the image may carry. */
export type Runtime = (typeof RUNTIMES)[number];

/** Environment variables that the runtimes' own images and installers set. */
const ENV_MARKERS: [RegExp, Runtime][] = [
  [/^(?:PYTHON_VERSION|PYTHONPATH|PYTHONHOME|PYTHON_PIP_VERSION|VIRTUAL_ENV)$/, "python"],
  [/^(?:NODE_VERSION|NODE_PATH|NODE_OPTIONS|YARN_VERSION)$/, "node"],
  [/^(?:PERL_VERSION|PERL5LIB)$/, "perl"],
  [/^(?:RUBY_VERSION|RUBY_MAJOR|GEM_HOME)$/, "ruby"],
  [/^(?:JAVA_HOME|JAVA_VERSION|JDK_HOME|JDK_VERSION|JRE_HOME|JRE_VERSION)$/, "java"],
  [/^(?:PHP_VERSION|PHP_INI_DIR)$/, "php"],
];

/** Package names (Debian, Alpine, RHEL) and program names per runtime. */
const PACKAGE_MARKERS: [RegExp, Runtime][] = [
  [/^(?:python[0-9.]*(?:-[a-z0-9.+-]+)?|py3-[a-z0-9.+-]+|pypy[0-9]*|pip[0-9.]*)$/, "python"],
  [/^(?:nodejs(?:-current|-lts)?|node|npm|yarn|npx)$/, "node"],
  [/^(?:perl[0-9.]*(?:-base)?)$/, "perl"],
  [/^(?:ruby[0-9.]*(?:-full|-dev)?|gem)$/, "ruby"],
  [
    /^(?:openjdk[0-9]*(?:-[a-z0-9.-]+)?|default-j(?:re|dk)(?:-headless)?|java-[0-9.]+-openjdk(?:-[a-z-]+)?|temurin-[0-9]+-j(?:re|dk)|zulu[0-9]*-[a-z0-9-]+|java|jshell)$/,
    "java",
  ],
  [/^(?:php[0-9.]*(?:-[a-z0-9.-]+)?)$/, "php"],
  [/^(?:bash|zsh|dash|ksh|mksh|fish|sh|ash|busybox)$/, "shell"],
];

/** The runtime a package or program name implies, if any. */
export function runtimeOf(name: string): Runtime | null {
  // `[\s\S]` rather than `.`: a `.*$` that stops at a newline retries from every later `=`.
  const n = name.toLowerCase().replace(/[=<>@:][\s\S]*$/, "");
  if ((RUNTIMES as readonly string[]).includes(n)) return n as Runtime;
  for (const [re, rt] of PACKAGE_MARKERS) if (re.test(n)) return rt;
  return null;
}

/** Programs whose use in a build step shows their runtime was installed. */
const BUILD_TOOLS = /^(?:pip[0-9.]*|npm|npx|yarn|gem|java|node|python[0-9.]*|perl|ruby|php[0-9.]*)$/;

/** Install commands and where their package names start. */
function installedPackages(name: string, args: string[]): string[] {
  const words = args.filter((a) => !a.startsWith("-"));
  const sub = words[0] ?? "";
  if (/^(?:apt-get|apt|aptitude|yum|dnf|microdnf|tdnf|zypper)$/.test(name) && /^(?:install|in)$/.test(sub))
    return words.slice(1);
  if (name === "apk" && sub === "add") return words.slice(1);
  return [];
}

/** The interpreters in the image, each with where that was seen. */
export function findRuntimes(facts: Parameters<Check>[0], ctx: Parameters<Check>[1]): Map<Runtime, string[]> {
  const seen = new Map<Runtime, string[]>();
  const note = (rt: Runtime, where: string) => {
    const list = seen.get(rt) ?? [];
    if (!list.includes(where) && list.length < 5) list.push(where);
    seen.set(rt, list);
  };
  for (const entry of facts.config.env) {
    const name = entry.split("=", 1)[0]!;
    for (const [re, rt] of ENV_MARKERS) if (re.test(name)) note(rt, `env ${name}`);
  }
  for (const [field, argv] of [
    ["entrypoint", facts.config.entrypoint],
    ["cmd", facts.config.cmd],
  ] as const) {
    const first = argv?.[0];
    const rt = first ? runtimeOf(basename(first)) : null;
    if (rt) note(rt, `${field} ${first}`);
  }
  for (const step of buildSteps(facts.history)) {
    if (step.script === null) continue;
    if (/^(?:\S*\/)?(?:sh|bash|ash|dash|zsh)\s/.test(step.args))
      note("shell", `history ${stepLabel(step)} RUN (shell)`);
    for (const v of walk(step.script)) {
      const r = v.resolved;
      for (const pkg of installedPackages(
        r.name,
        r.args.map((a) => a.text),
      )) {
        const rt = runtimeOf(pkg);
        if (rt) note(rt, `history ${stepLabel(step)} ${r.name} ${pkg}`);
      }
      // Running pip, npm or gem at build time means the runtime was there.
      if (BUILD_TOOLS.test(r.name)) note(runtimeOf(r.name)!, `history ${stepLabel(step)} ${r.name}`);
    }
  }
  for (const att of ctx.trust.attestations) {
    for (const name of att.runtimes ?? []) {
      const rt = runtimeOf(name);
      if (rt) note(rt, `SBOM ${att.predicateType} (${name})`);
    }
  }
  return seen;
}

/** Every contents check. */
export const contentsChecks: Check = (facts, ctx) => {
  const found = findRuntimes(facts, ctx);
  if (found.size === 0) return [];
  const names = RUNTIMES.filter((r) => found.has(r));
  return [
    finding(
      "contents.runtimes",
      `Interpreters in the image: ${names.join(", ")}`,
      `Expected only what the app needs (a distroless or static image carries no interpreter); found ${listing(names)}. An interpreter lets whoever gets code execution in the container run their own scripts: if the app does not need ${names.length === 1 ? "it" : "them"}, prefer a slimmer base.`,
      { runtimes: Object.fromEntries(names.map((n) => [n, found.get(n)])) },
    ),
  ];
};
