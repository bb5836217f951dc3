/**
 * Build steps read from an image config's history, as the legacy builder and BuildKit record them.
 * Pure.
 *
 * Legacy builder (and buildah):
 *   `/bin/sh -c #(nop)  ENV A=b`              an instruction that ran no command
 *   `/bin/sh -c #(nop) ADD file:3a1c... in /` a local ADD/COPY (content hash, not the source)
 *   `/bin/sh -c apt-get update && ...`        a RUN
 *   `|2 A=1 B=2 /bin/sh -c make`              a RUN with the build args in scope
 * BuildKit:
 *   `RUN /bin/sh -c apk add curl # buildkit`  the instruction, then ` # buildkit`
 *   `RUN |1 TOKEN=abc /bin/sh -c make # buildkit`
 *   `ADD https://example.com/x.tgz /opt/ # buildkit`, `ENV A=b`, `ARG V=1`, `COPY . . # buildkit`
 * A custom SHELL shows up as its argv: `/bin/bash -o pipefail -c ...`; exec-form RUN as JSON.
 */
import type { HistoryEntry } from "../facts/model.js";
import { parseScript } from "./shell.js";

/** One history entry, read. */
export interface BuildStep {
  /** Index in the config's history array, from 0 (evidence `historyIndex`); people read `stepLabel`. */
  index: number;
  createdBy: string;
  /** `RUN`, `ADD`, `COPY`, `ENV`, ...; empty when the text is not a Dockerfile instruction (another builder's note). */
  instruction: string;
  /** The instruction's arguments; for RUN, everything after the build args. */
  args: string;
  /** Build args recorded with a RUN (`|2 A=1 B=2 ...`). */
  buildArgs: { name: string; value: string }[];
  /** The shell script a RUN ran, or null. */
  script: string | null;
  buildkit: boolean;
  emptyLayer: boolean;
}

/**
 * How a step is named for people, in titles, details and the text and Slack reports: `step N`,
 * counted from 1 in build order, as `inspect` lists the history (the JSON evidence keeps the
 * array index, `historyIndex`, from 0).
 */
export function stepLabel(step: Pick<BuildStep, "index">): string {
  return `step ${step.index + 1}`;
}

const INSTRUCTIONS = new Set([
  "ADD",
  "ARG",
  "CMD",
  "COPY",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "HEALTHCHECK",
  "LABEL",
  "MAINTAINER",
  "ONBUILD",
  "RUN",
  "SHELL",
  "STOPSIGNAL",
  "USER",
  "VOLUME",
  "WORKDIR",
]);

const NOP = /^(?:\S*\/)?(?:sh|bash)\s+-c\s+#\(nop\)\s*([\s\S]*)$/;
/**
 * A shell's argv before the script: `/bin/sh -c`, `/bin/bash -euxo pipefail -c`, `sh -ec`. Each
 * option word is read one way only: ending in `o` it takes the next word as its value, otherwise
 * it takes none. When `-ao` could be read both ways, `sh -ao -bo -ao -bo … x` took exponential time
 * (22 pairs, 67 s).
 */
const SHELL_PREFIX =
  /^(?:\S*\/)?(?:sh|bash|ash|dash|zsh|ksh)((?:\s+(?:[-+][A-Za-z]*o\s+\S+|[-+][A-Za-z]*[A-Za-np-z]))*?)\s+-[A-Za-z]*c\s+([\s\S]*)$/;
const WINDOWS_CMD = /^cmd(?:\.exe)?\s+\/S\s+\/C\s+([\s\S]*)$/i;
const POWERSHELL = /^(?:powershell|pwsh)(?:\.exe)?\s[\s\S]*?-Command\s+([\s\S]*)$/i;

/** Read every entry of a config's history. */
export function buildSteps(history: readonly HistoryEntry[]): BuildStep[] {
  return history.map((h, i) => parseStep(h.createdBy ?? "", i, h.emptyLayer));
}

/** Read one history line. */
export function parseStep(createdBy: string, index: number, emptyLayer = false): BuildStep {
  let s = createdBy.trim();
  const buildkit = /\s#\s*buildkit$/.test(s);
  if (buildkit) s = s.replace(/\s#\s*buildkit$/, "").trim();
  const step: BuildStep = {
    index,
    createdBy,
    instruction: "",
    args: "",
    buildArgs: [],
    script: null,
    buildkit,
    emptyLayer,
  };

  const nop = NOP.exec(s);
  if (nop) s = nop[1]!.trim();
  const instr = /^([A-Z]+)(?:\s+([\s\S]*))?$/.exec(s);
  if (instr && INSTRUCTIONS.has(instr[1]!)) {
    step.instruction = instr[1]!;
    step.args = (instr[2] ?? "").trim();
  } else if (
    !nop &&
    (s.startsWith("|") || SHELL_PREFIX.test(s) || WINDOWS_CMD.test(s) || POWERSHELL.test(s))
  ) {
    // The legacy builder records a RUN as the bare command line.
    step.instruction = "RUN";
    step.args = s;
  } else {
    step.args = s;
    return step;
  }

  if (step.instruction === "RUN") {
    const { buildArgs, rest } = splitBuildArgs(withoutRunFlags(step.args));
    step.buildArgs = buildArgs;
    step.args = withoutRunFlags(rest);
    step.script = scriptOf(step.args);
  }
  return step;
}

/** RUN's own flags (`--mount=type=cache,target=/root/.cache`, `--network=none`) before its command. */
function withoutRunFlags(text: string): string {
  return text.replace(/^(?:--(?:mount|network|security)=\S+\s+)+/, "");
}

/** `|2 A=1 B=two words /bin/sh -c x` -> the two args and `/bin/sh -c x`. */
function splitBuildArgs(text: string): { buildArgs: { name: string; value: string }[]; rest: string } {
  const m = /^\|(\d+)\s+/.exec(text);
  if (!m) return { buildArgs: [], rest: text };
  const count = Number(m[1]);
  let rest = text.slice(m[0].length);
  const buildArgs: { name: string; value: string }[] = [];
  while (buildArgs.length < count) {
    const pair = /^([A-Za-z_][A-Za-z0-9_]*)=(\S*)/.exec(rest);
    if (!pair) break;
    let value = pair[2]!;
    rest = rest.slice(pair[0].length);
    // Docker joins the args with spaces and does not quote them, so a value may run over several
    // words: they belong to it until the next `NAME=` or, after the last arg, the command.
    for (;;) {
      const more = /^(\s+)(\S+)/.exec(rest);
      if (!more) break;
      const w = more[2]!;
      const startsNext =
        buildArgs.length + 1 < count
          ? /^[A-Za-z_][A-Za-z0-9_]*=/.test(w)
          : /^(?:\/|sh$|bash$|cmd|powershell|pwsh)/i.test(w);
      if (startsNext) break;
      value += more[1]! + w;
      rest = rest.slice(more[0].length);
    }
    buildArgs.push({ name: pair[1]!, value });
    rest = rest.replace(/^\s+/, "");
  }
  return { buildArgs, rest };
}

/** The script of a RUN: after the shell's `-c`, from exec-form JSON, or the text itself. */
function scriptOf(text: string): string {
  const t = text.trim();
  if (t.startsWith("[")) {
    try {
      const argv = JSON.parse(t) as unknown;
      if (Array.isArray(argv) && argv.every((a) => typeof a === "string")) {
        const c = argv.findIndex((a, i) => i > 0 && /^-[A-Za-z]*c$/.test(a));
        if (c !== -1 && argv[c + 1] !== undefined) return argv.slice(c + 1).join(" ");
        return argv.map((a) => (/[\s'"]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a)).join(" ");
      }
    } catch {
      // Not JSON: read it as a command line.
    }
  }
  const sh = SHELL_PREFIX.exec(t);
  if (sh) return sh[2]!;
  const cmd = WINDOWS_CMD.exec(t) ?? POWERSHELL.exec(t);
  if (cmd) return cmd[1]!;
  return t;
}

/** `KEY=value` pairs of an ENV, ARG or LABEL instruction (quotes removed); `ARG NAME` gives no value. */
export function instructionPairs(args: string): { name: string; value: string | undefined }[] {
  const words = parseScript(args).flatMap((p) => p.commands.flatMap((c) => c.words));
  const pairs: { name: string; value: string | undefined }[] = [];
  const first = words[0];
  // The old `ENV KEY value words` form: one pair, the rest of the line is the value.
  if (first && !first.text.includes("=") && words.length > 1 && !words[1]!.text.includes("=")) {
    return [
      {
        name: first.text,
        value: words
          .slice(1)
          .map((w) => w.text)
          .join(" "),
      },
    ];
  }
  for (const w of words) {
    const eq = w.text.indexOf("=");
    if (eq === -1) pairs.push({ name: w.text, value: undefined });
    else pairs.push({ name: w.text.slice(0, eq), value: w.text.slice(eq + 1) });
  }
  return pairs;
}
