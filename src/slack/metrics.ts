/**
 * Hand-written Prometheus counters, gauges and histograms for `GET /metrics`, in the text exposition
 * format (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format). A few
 * dozen series do not justify a client library.
 */

type Labels = Record<string, string>;

interface Family {
  help: string;
  type: "counter" | "gauge" | "histogram";
}

/** Upper bounds of latency histograms, seconds: Slack's 3 s ack deadline sits near the top. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Counters and histograms of the app, rendered on demand. */
export class Metrics {
  private readonly families = new Map<string, Family>();
  private readonly values = new Map<string, Map<string, number>>();
  private readonly histograms = new Map<
    string,
    Map<string, { buckets: number[]; sum: number; count: number }>
  >();
  private readonly gauges = new Map<
    string,
    () => Promise<Record<string, number> | number> | Record<string, number> | number
  >();

  constructor() {
    this.family("image_check_slash_commands_total", "counter", "Slash commands received, by subcommand.");
    this.family(
      "image_check_actions_total",
      "counter",
      "Interactive actions and view submissions, by action and outcome.",
    );
    this.family("image_check_checks_total", "counter", "Checks finished, by verdict (or failed).");
    this.family("image_check_decisions_total", "counter", "Decisions written, by decision.");
    this.family("image_check_slack_api_calls_total", "counter", "Slack Web API calls, by method.");
    this.family(
      "image_check_slack_api_errors_total",
      "counter",
      "Slack Web API calls that failed, by method and error.",
    );
    this.family(
      "image_check_slack_requests_rejected_total",
      "counter",
      "Requests refused before any listener ran, by reason.",
    );
    this.family(
      "image_check_ack_seconds",
      "histogram",
      "Time from receiving a Slack request to acknowledging it.",
    );
    this.family("image_check_queue_jobs", "gauge", "Jobs in the durable queue, by status.");
  }

  private family(name: string, type: Family["type"], help: string) {
    this.families.set(name, { help, type });
  }

  /** Add `by` (default 1) to a counter. */
  inc(name: string, labels: Labels = {}, by = 1): void {
    const series = this.values.get(name) ?? new Map<string, number>();
    this.values.set(name, series);
    const key = labelText(labels);
    series.set(key, (series.get(key) ?? 0) + by);
  }

  /** Record one observation (seconds) in a histogram. */
  observe(name: string, seconds: number, labels: Labels = {}): void {
    const series = this.histograms.get(name) ?? new Map();
    this.histograms.set(name, series);
    const key = labelText(labels);
    const h = series.get(key) ?? { buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
    series.set(key, h);
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]!) h.buckets[i]!++;
    h.sum += seconds;
    h.count++;
  }

  /** A gauge read at scrape time: one value, or values by the single label `label`. */
  gauge(
    name: string,
    read: () => Promise<Record<string, number> | number> | Record<string, number> | number,
    label = "status",
  ): void {
    this.gauges.set(name, async () => {
      const v = await read();
      return typeof v === "number"
        ? v
        : Object.fromEntries(Object.entries(v).map(([k, n]) => [`${label}=${k}`, n]));
    });
  }

  /** The current value of a counter series (for tests and the bench). */
  value(name: string, labels: Labels = {}): number {
    return this.values.get(name)?.get(labelText(labels)) ?? 0;
  }

  /** Everything, in the text exposition format. */
  async render(): Promise<string> {
    const out: string[] = [];
    for (const [name, fam] of this.families) {
      out.push(`# HELP ${name} ${fam.help}`, `# TYPE ${name} ${fam.type}`);
      if (fam.type === "counter") {
        for (const [key, v] of this.values.get(name) ?? []) out.push(`${name}${key} ${v}`);
      } else if (fam.type === "histogram") {
        for (const [key, h] of this.histograms.get(name) ?? []) {
          const inner = key.slice(1, -1);
          const join = (le: string) => `{${inner ? `${inner},` : ""}le="${le}"}`;
          for (const [i, b] of LATENCY_BUCKETS.entries())
            out.push(`${name}_bucket${join(String(b))} ${h.buckets[i]}`);
          out.push(
            `${name}_bucket${join("+Inf")} ${h.count}`,
            `${name}_sum${key} ${h.sum}`,
            `${name}_count${key} ${h.count}`,
          );
        }
      } else {
        const read = this.gauges.get(name);
        if (!read) continue;
        let v: Record<string, number> | number;
        try {
          v = await read();
        } catch {
          continue; // a gauge whose source is closing is left out of this scrape
        }
        if (typeof v === "number") out.push(`${name} ${v}`);
        else
          for (const [pair, n] of Object.entries(v)) {
            const [k, val] = pair.split("=") as [string, string];
            out.push(`${name}${labelText({ [k]: val })} ${n}`);
          }
      }
    }
    return `${out.join("\n")}\n`;
  }
}

// Label values are escaped as the format requires: backslash, double quote and newline.
function labelText(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  const parts = keys.map(
    (k) => `${k}="${labels[k]!.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`,
  );
  return `{${parts.join(",")}}`;
}
