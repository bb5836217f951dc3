/**
 * What a request to /slack/events must look like before Bolt sees it. Bolt 5.1.0 verifies the
 * signature, but trusts the rest: it reads `.ssl_check` of whatever JSON the body parses to (a
 * signed body `null` threw outside any handler and killed the process), and it takes the timestamp
 * header through `Number()`, so a signed `Infinity` (or `1.7e9`, `0x…`) passed its staleness check
 * and stayed valid for ever. These checks are pure: the HTTP server in ./app.ts reads the body,
 * asks them, and answers 400/401 itself, so Bolt only ever gets a plain timestamp and an object.
 * https://docs.slack.dev/authentication/verifying-requests-from-slack
 */
import { parse as parseQuery } from "node:querystring";

/** Slack refuses requests whose timestamp is further than this from now (replay protection). */
export const SIGNATURE_MAX_AGE_SECONDS = 5 * 60;

/**
 * The largest body read from Slack. Slack's biggest payload, a modal's view_submission, stays well
 * under 100 KiB; 1 MiB leaves room and bounds what an unsigned sender can make us buffer.
 */
export const SLACK_BODY_LIMIT_BYTES = 1024 * 1024;

/** Seconds since the epoch, as Slack writes them: digits only (10 today; 12 allows for centuries). */
const PLAIN_SECONDS = /^[0-9]{1,12}$/;

/**
 * Whether `header` (X-Slack-Request-Timestamp) is a plain integer of seconds within
 * `SIGNATURE_MAX_AGE_SECONDS` of `nowSec`, in either direction: a replay window is a window whether
 * it lies in the past or the future.
 */
export function timestampAcceptable(header: string | string[] | undefined, nowSec: number): boolean {
  if (typeof header !== "string" || !PLAIN_SECONDS.test(header)) return false;
  return Math.abs(Number(header) - nowSec) <= SIGNATURE_MAX_AGE_SECONDS;
}

/**
 * Whether `raw` parses, the way Bolt's HTTPReceiver will parse it, to a JSON object: a form body
 * (exactly `application/x-www-form-urlencoded`, as Bolt tests it) is an object, and its `payload`
 * field, when there is one, must be a JSON object; any other content type is JSON and must be an
 * object. `null`, numbers, strings, arrays and malformed JSON are refused.
 */
export function bodyAcceptable(raw: Buffer, contentType: string | undefined): boolean {
  const text = raw.toString();
  if (contentType === "application/x-www-form-urlencoded") {
    const payload = parseQuery(text).payload;
    return typeof payload === "string" ? isJsonObject(payload) : true;
  }
  return isJsonObject(text);
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
