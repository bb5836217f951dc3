/**
 * Who may decide: the user ids of IMAGE_CHECK_APPROVERS, plus the members of its user groups,
 * resolved with `usergroups.users.list` and cached for a few minutes so a burst of clicks costs one
 * call per group. https://docs.slack.dev/reference/methods/usergroups.users.list
 */
import { CodedError } from "../errors.js";

/** How long a group's member list is trusted: membership changes rarely, clicks come in bursts. */
export const APPROVER_CACHE_MS = 5 * 60_000;

/**
 * How long a listener waits for the group look-up before it answers "could not verify, try again":
 * the ack must reach Slack within 3 s (https://docs.slack.dev/interactivity/handling-user-interaction#acknowledgment_response),
 * and the write and the network need the rest. The look-up itself carries on and fills the cache,
 * so the next click is answered at once.
 */
export const APPROVER_ACK_BUDGET_MS = 1500;

/** Slack could not tell us who is in a group, or not in time (the click is refused with "try again", not "not an approver"). */
export class ApproverLookupError extends CodedError<"APPROVERS_UNAVAILABLE"> {}

/** Answers "may this user decide?" from the configured ids and groups. */
export interface Approvers {
  /**
   * Whether `userId` may decide. With `withinMs`, an answer that needs Slack and does not come in
   * that time rejects with APPROVERS_UNAVAILABLE: an unknown is never taken for an approver.
   */
  isApprover(userId: string, withinMs?: number): Promise<boolean>;
}

/** The approver check over `configured` ids (U…/W… users, S… groups). */
export function createApprovers(
  configured: readonly string[],
  members: (groupId: string) => Promise<string[]>,
  nowMs: () => number,
  cacheMs: number = APPROVER_CACHE_MS,
): Approvers {
  const users = new Set(configured.filter((id) => !id.startsWith("S")));
  const groups = configured.filter((id) => id.startsWith("S"));
  const cache = new Map<string, { at: number; members: Promise<Set<string>> }>();

  function groupMembers(groupId: string): Promise<Set<string>> {
    const hit = cache.get(groupId);
    if (hit && nowMs() - hit.at < cacheMs) return hit.members;
    // Concurrent clicks share the one in-flight look-up; a failed look-up is not cached.
    const pending = members(groupId).then(
      (list) => new Set(list),
      (err: unknown) => {
        cache.delete(groupId);
        throw new ApproverLookupError(
          "APPROVERS_UNAVAILABLE",
          `could not list the members of user group ${groupId}`,
          { cause: err },
        );
      },
    );
    cache.set(groupId, { at: nowMs(), members: pending });
    return pending;
  }

  /** True as soon as one group has the user; false once every group answered without; else the first failure. */
  function inAnyGroup(userId: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      let left = groups.length;
      let failure: unknown = null;
      const settled = () => {
        if (--left > 0) return;
        if (failure) reject(failure);
        else resolve(false);
      };
      for (const g of groups)
        groupMembers(g).then(
          (set) => (set.has(userId) ? resolve(true) : settled()),
          (err: unknown) => {
            failure ??= err;
            settled();
          },
        );
    });
  }

  return {
    async isApprover(userId, withinMs) {
      if (users.has(userId)) return true;
      if (groups.length === 0) return false;
      const answer = inAnyGroup(userId);
      return withinMs === undefined ? answer : within(answer, withinMs);
    },
  };
}

/** `answer`, or APPROVERS_UNAVAILABLE when it takes longer than `ms`. */
function within(answer: Promise<boolean>, ms: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new ApproverLookupError(
            "APPROVERS_UNAVAILABLE",
            `Slack did not list the approver groups within ${ms} ms`,
          ),
        ),
      ms,
    );
    answer.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
