/**
 * A small POSIX-shell reader for build steps: enough structure to tell `curl x | sh` from
 * `curl x | tar x`, a command from its arguments, and what runs inside `sh -c "..."`, `$(...)`,
 * backticks and `<(...)`. It never executes or expands anything. Pure.
 *
 * Handled: quotes, backslash escapes, line continuations, `&&`, `||`, `;`, `&`, newlines, `|` and
 * `|&`, redirections (`>`, `2>&1`, `<<<`), comments, `$(...)`, `${...}`, backticks, process
 * substitution, and grouping parentheses (read as word breaks).
 */

/** One word of a command. */
export interface Word {
  /** As written, quotes kept. */
  raw: string;
  /** Quotes and escapes removed; substitutions kept as written (`$(...)`). */
  text: string;
  /** The scripts inside `$(...)`, backticks, `<(...)` and `>(...)` of this word. */
  subs: string[];
}

/** A simple command: its words (assignments included) and its redirections. */
export interface SimpleCommand {
  words: Word[];
  redirects: { op: string; target?: Word }[];
}

/** Commands joined by `|` or `|&`. */
export interface Pipeline {
  commands: SimpleCommand[];
}

/** Parse a script into pipelines (separated by `&&`, `||`, `;`, `&` and newlines). */
export function parseScript(script: string): Pipeline[] {
  return new Lexer(script).run();
}

/** Characters with no meaning to the lexer (`#` only starts a comment at the start of a word). */
const ORDINARY = /[^\s\\'"$`|&;<>()]+/y;

class Lexer {
  private i = 0;
  private word: Word | null = null;
  private command: SimpleCommand = { words: [], redirects: [] };
  private pipeline: SimpleCommand[] = [];
  private readonly pipelines: Pipeline[] = [];
  private pendingRedirect: { op: string; target?: Word } | null = null;

  constructor(private readonly s: string) {}

  run(): Pipeline[] {
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i]!;
      const next = s[this.i + 1];
      if (c === "\\") {
        if (next === "\n") this.i += 2;
        else if (next === "\r" && s[this.i + 2] === "\n") this.i += 3;
        else if (next === undefined) this.i++;
        else {
          this.append(`\\${next}`, next);
          this.i += 2;
        }
      } else if (c === " " || c === "\t" || c === "\r" || c === "(" || c === ")") {
        this.endWord();
        this.i++;
      } else if (c === "\n") {
        this.endPipeline();
        this.i++;
      } else if (c === "#" && this.word === null) {
        while (this.i < s.length && s[this.i] !== "\n") this.i++;
      } else if (c === ";") {
        this.endPipeline();
        this.i += next === ";" ? 2 : 1;
      } else if (c === "&") {
        if (next === "&") {
          this.endPipeline();
          this.i += 2;
        } else if (next === ">") {
          this.endWord();
          const op = s[this.i + 2] === ">" ? "&>>" : "&>";
          this.i += op.length;
          this.redirect(op);
        } else {
          this.endPipeline();
          this.i++;
        }
      } else if (c === "|") {
        if (next === "|") {
          this.endPipeline();
          this.i += 2;
        } else {
          this.endCommand();
          this.i += next === "&" ? 2 : 1;
        }
      } else if ((c === "<" || c === ">") && next === "(") {
        const { inner, end } = readBalanced(s, this.i + 1);
        this.append(`${c}(${inner})`, `${c}(${inner})`, inner);
        this.i = end;
      } else if (c === "<" || c === ">") {
        // A word of digits right before is the file descriptor: `2>&1`.
        let fd = "";
        if (this.word && /^\d+$/.test(this.word.raw)) {
          fd = this.word.raw;
          this.word = null;
        } else this.endWord();
        let j = this.i;
        while (j < s.length && /[<>&|-]/.test(s[j]!)) j++;
        const op = fd + s.slice(this.i, j);
        this.i = j;
        this.redirect(op);
      } else if (c === "'") {
        const end = s.indexOf("'", this.i + 1);
        const stop = end === -1 ? s.length : end;
        const body = s.slice(this.i + 1, stop);
        this.append(`'${body}'`, body);
        this.i = stop + 1;
      } else if (c === '"') {
        this.readDoubleQuoted();
      } else if (c === "$" && next === "(") {
        const { inner, end } = readBalanced(s, this.i + 1);
        this.append(`$(${inner})`, `$(${inner})`, inner);
        this.i = end;
      } else if (c === "$" && next === "{") {
        const end = closing(s, this.i + 1, "{", "}");
        const body = s.slice(this.i, end);
        this.append(body, body);
        this.i = end;
      } else if (c === "`") {
        const { inner, end } = readBacktick(s, this.i);
        this.append(`\`${inner}\``, `\`${inner}\``, inner);
        this.i = end;
      } else {
        // A run of ordinary characters at once: most of a script is plain words.
        ORDINARY.lastIndex = this.i;
        const run = ORDINARY.exec(s)?.[0] ?? c;
        this.append(run, run);
        this.i += run.length;
      }
    }
    this.endPipeline();
    return this.pipelines;
  }

  private readDoubleQuoted(): void {
    const s = this.s;
    let raw = '"';
    let text = "";
    const subs: string[] = [];
    let j = this.i + 1;
    while (j < s.length && s[j] !== '"') {
      const c = s[j]!;
      if (c === "\\" && j + 1 < s.length) {
        const n = s[j + 1]!;
        raw += c + n;
        if (n === "\n") {
          // continuation inside quotes: removed
        } else text += '"\\$`'.includes(n) ? n : c + n;
        j += 2;
      } else if (c === "$" && s[j + 1] === "(") {
        const { inner, end } = readBalanced(s, j + 1);
        raw += `$(${inner})`;
        text += `$(${inner})`;
        subs.push(inner);
        j = end;
      } else if (c === "`") {
        const { inner, end } = readBacktick(s, j);
        raw += `\`${inner}\``;
        text += `\`${inner}\``;
        subs.push(inner);
        j = end;
      } else {
        raw += c;
        text += c;
        j++;
      }
    }
    raw += '"';
    this.append(raw, text, ...subs);
    this.i = j + 1;
  }

  private append(raw: string, text: string, ...subs: string[]): void {
    if (!this.word) this.word = { raw: "", text: "", subs: [] };
    this.word.raw += raw;
    this.word.text += text;
    this.word.subs.push(...subs);
  }

  private redirect(op: string): void {
    this.pendingRedirect = { op };
    this.command.redirects.push(this.pendingRedirect);
  }

  private endWord(): void {
    if (!this.word) return;
    if (this.pendingRedirect) {
      this.pendingRedirect.target = this.word;
      this.pendingRedirect = null;
    } else this.command.words.push(this.word);
    this.word = null;
  }

  private endCommand(): void {
    this.endWord();
    this.pendingRedirect = null;
    if (this.command.words.length || this.command.redirects.length) this.pipeline.push(this.command);
    this.command = { words: [], redirects: [] };
  }

  private endPipeline(): void {
    this.endCommand();
    if (this.pipeline.length) this.pipelines.push({ commands: this.pipeline });
    this.pipeline = [];
  }
}

/** From the `(` at `open`: the text up to the matching `)` and the index after it. */
function readBalanced(s: string, open: number): { inner: string; end: number } {
  const end = closing(s, open, "(", ")");
  return { inner: s.slice(open + 1, Math.max(open + 1, end - 1)), end };
}

/** The index after the bracket that closes the one at `open`, skipping quoted text (or the text end). */
function closing(s: string, open: number, o: string, c: string): number {
  let depth = 0;
  let j = open;
  while (j < s.length) {
    const ch = s[j]!;
    if (ch === "\\") j += 2;
    else if (ch === "'") {
      const e = s.indexOf("'", j + 1);
      j = e === -1 ? s.length : e + 1;
    } else if (ch === '"') {
      j++;
      while (j < s.length && s[j] !== '"') j += s[j] === "\\" ? 2 : 1;
      j++;
    } else if (ch === o) {
      depth++;
      j++;
    } else if (ch === c) {
      depth--;
      j++;
      if (depth === 0) return j;
    } else j++;
  }
  return s.length;
}

function readBacktick(s: string, open: number): { inner: string; end: number } {
  let j = open + 1;
  while (j < s.length && s[j] !== "`") j += s[j] === "\\" ? 2 : 1;
  return { inner: s.slice(open + 1, Math.min(j, s.length)), end: Math.min(j + 1, s.length) };
}

/** Words that start a compound command or negate one: not the command itself. */
const KEYWORDS = new Set([
  "if",
  "then",
  "else",
  "elif",
  "do",
  "while",
  "until",
  "!",
  "{",
  "}",
  "time",
  "fi",
  "done",
]);

/** Wrappers that run the command named after them (and their options). */
const WRAPPERS = new Set([
  "sudo",
  "doas",
  "env",
  "exec",
  "nohup",
  "nice",
  "command",
  "builtin",
  "timeout",
  "stdbuf",
  "chroot",
  "busybox",
]);

/** Options of wrappers that take a value (`sudo -u root`). */
const WRAPPER_VALUE_OPTIONS: Record<string, Set<string>> = {
  sudo: new Set(["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "--user", "--group", "--chdir"]),
  doas: new Set(["-u", "-C"]),
  env: new Set(["-u", "-C", "-S", "--unset", "--chdir"]),
  nice: new Set(["-n", "--adjustment"]),
  timeout: new Set(["-s", "-k", "--signal", "--kill-after"]),
  stdbuf: new Set(["-i", "-o", "-e"]),
};

/** A command with wrappers and leading assignments taken off. */
export interface ResolvedCommand {
  /** Basename of the program (`curl` for `/usr/bin/curl`); empty when the command word is a substitution. */
  name: string;
  /** The command word itself. */
  word: Word | undefined;
  /** Arguments after the command word. */
  args: Word[];
  /** `NAME=value` words before the command (also those given to `env`). */
  assignments: { name: string; value: string; word: Word }[];
  /** Wrappers seen in front of it, in order (`sudo`, `env`, ...). */
  wrappers: string[];
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/;

/** What a simple command runs. */
export function resolveCommand(cmd: SimpleCommand): ResolvedCommand {
  const words = cmd.words;
  const assignments: ResolvedCommand["assignments"] = [];
  const wrappers: string[] = [];
  let i = 0;
  while (i < words.length) {
    const w = words[i]!;
    if (KEYWORDS.has(w.text)) {
      i++;
      continue;
    }
    const a = ASSIGNMENT.exec(w.text);
    if (a && !w.raw.startsWith("'") && !w.raw.startsWith('"')) {
      assignments.push({ name: a[1]!, value: a[2]!, word: w });
      i++;
      continue;
    }
    const base = basename(w.text);
    // `command -v curl` asks whether curl exists; it runs nothing.
    const asks = base === "command" && /^-[vV]$/.test(words[i + 1]?.text ?? "");
    if (WRAPPERS.has(base) && i + 1 < words.length && !asks) {
      wrappers.push(base);
      i++;
      if (base === "timeout" && /^\d/.test(words[i]?.text ?? "")) i++;
      const valued = WRAPPER_VALUE_OPTIONS[base];
      while (i < words.length && words[i]!.text.startsWith("-") && words[i]!.text !== "-") {
        const opt = words[i]!.text;
        i++;
        if (opt === "--") break;
        if (valued?.has(opt)) i++;
      }
      continue;
    }
    return {
      name: w.subs.length && w.text.startsWith("$") ? "" : base,
      word: w,
      args: words.slice(i + 1),
      assignments,
      wrappers,
    };
  }
  return { name: "", word: undefined, args: [], assignments, wrappers };
}

/** The last path segment: `/usr/bin/curl` -> `curl`. */
export function basename(path: string): string {
  // A loop, not `/\/+$/`: that regex retries from every slash of a long run of them.
  let end = path.length;
  while (end > 0 && path[end - 1] === "/") end--;
  const t = path.slice(0, end);
  return t.slice(t.lastIndexOf("/") + 1);
}

/** One command met while walking a script, with the pipeline it is part of. */
export interface Visit {
  pipeline: Pipeline;
  /** Position in the pipeline. */
  position: number;
  command: SimpleCommand;
  resolved: ResolvedCommand;
  /** 0 for the step's own script; deeper inside `sh -c`, `eval` and substitutions. */
  depth: number;
}

/** Shells whose `-c` argument is a script. */
export const SHELLS = /^(?:sh|bash|dash|ash|zsh|ksh|mksh|fish)$/;

/** How deep `sh -c "bash -c '...'"` nesting is followed: deeper than any real build step. */
const MAX_DEPTH = 4;

/**
 * Every simple command of a script, including those inside `sh -c SCRIPT`, `su -c SCRIPT`,
 * `eval ...` and substitutions, depth first. The result is shared (cached by script): read it,
 * never change it.
 */
export function walk(script: string): readonly Visit[] {
  const hit = walkCache.get(script);
  if (hit) return hit;
  const visits = [...walkFrom(script, 0)];
  // Every history check walks each step: remember the last few hundred scripts.
  if (walkCache.size >= WALK_CACHE_SIZE) walkCache.delete(walkCache.keys().next().value!);
  walkCache.set(script, visits);
  return visits;
}

const WALK_CACHE_SIZE = 512;
const walkCache = new Map<string, readonly Visit[]>();

function* walkFrom(script: string, depth: number): Generator<Visit> {
  if (depth > MAX_DEPTH) return;
  for (const pipeline of parseScript(script)) {
    for (let position = 0; position < pipeline.commands.length; position++) {
      const command = pipeline.commands[position]!;
      const resolved = resolveCommand(command);
      yield { pipeline, position, command, resolved, depth };
      const inner = innerScript(resolved);
      if (inner !== null) yield* walkFrom(inner, depth + 1);
      for (const w of [...command.words, ...command.redirects.flatMap((r) => (r.target ? [r.target] : []))]) {
        for (const sub of w.subs) yield* walkFrom(sub, depth + 1);
      }
    }
  }
}

/** The script a command runs as text: `sh -c SCRIPT`, `su -c SCRIPT`, `eval WORDS`; else null. */
export function innerScript(r: ResolvedCommand): string | null {
  if (r.name === "eval") return r.args.map((a) => a.text).join(" ");
  if (SHELLS.test(r.name) || r.name === "su") {
    const idx = r.args.findIndex((a) => /^-[a-zA-Z]*c[a-zA-Z]*$/.test(a.text) || a.text === "--command");
    if (idx !== -1 && r.args[idx + 1]) return r.args[idx + 1]!.text;
  }
  return null;
}

/** A command as one line, for evidence (quotes as written). */
export function commandText(cmd: SimpleCommand): string {
  const parts = cmd.words.map((w) => w.raw);
  for (const r of cmd.redirects) parts.push(r.target ? `${r.op}${r.target.raw}` : r.op);
  return parts.join(" ");
}

/** A pipeline as one line, for evidence. */
export function pipelineText(p: Pipeline): string {
  return p.commands.map(commandText).join(" | ");
}

/** Arguments split into options and positionals. */
export interface ParsedOptions {
  /** Short letters and long names present (`k`, `insecure`). */
  flags: Set<string>;
  /** Values of options that take one, by letter or long name. */
  values: Map<string, string[]>;
  positionals: Word[];
}

/**
 * Split `args` the way getopt would: `valueShort` letters and `valueLong` names take a value
 * (`-o file`, `-ofile`, `-fsSLo file`, `--output file`, `--output=file`); other letters are flags.
 */
export function parseOptions(
  args: readonly Word[],
  valueShort: string,
  valueLong: ReadonlySet<string> = new Set(),
): ParsedOptions {
  const flags = new Set<string>();
  const values = new Map<string, string[]>();
  const positionals: Word[] = [];
  const put = (k: string, v: string) => {
    // Appended in place: copying the list on each value made `curl -o a -o a …` quadratic.
    const list = values.get(k);
    if (list) list.push(v);
    else values.set(k, [v]);
  };
  for (let i = 0; i < args.length; i++) {
    const t = args[i]!.text;
    if (t === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (t.startsWith("--") && t.length > 2) {
      const eq = t.indexOf("=");
      const name = eq === -1 ? t.slice(2) : t.slice(2, eq);
      flags.add(name);
      if (eq !== -1) put(name, t.slice(eq + 1));
      else if (valueLong.has(name) && i + 1 < args.length) put(name, args[++i]!.text);
      continue;
    }
    if (t.startsWith("-") && t.length > 1) {
      for (let j = 1; j < t.length; j++) {
        const ch = t[j]!;
        flags.add(ch);
        if (valueShort.includes(ch)) {
          const rest = t.slice(j + 1);
          if (rest) put(ch, rest);
          else if (i + 1 < args.length) put(ch, args[++i]!.text);
          break;
        }
      }
      continue;
    }
    positionals.push(args[i]!);
  }
  return { flags, values, positionals };
}
