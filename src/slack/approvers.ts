/**
 * Who may decide: the user ids of IMAGE_CHECK_APPROVERS, plus the members of its user groups,
 * resolved with `usergroups.users.list` and cached for a few minutes so a burst of clicks costs one
 * call per group. https://docs.slack.dev/reference/methods/usergroups.users.list
 */
import { CodedError } from "../errors.js";

/** How long a group's member list is trusted: membership changes rarely, clicks come in bursts. */
export const APPROVER_CACHE_MS = 5 * 60_000;

/** Slack could not tell us who is in a group (the click is refused with "try again", not "not an approver"). */
export class ApproverLookupError extends CodedError<"APPROVERS_UNAVAILABLE"> {}

/** Answers "may this user decide?" from the configured ids and groups. */
export interface Approvers {
  isApprover(userId: string): Promise<boolean>;
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

  return {
    async isApprover(userId) {
      if (users.has(userId)) return true;
      for (const g of groups) if ((await groupMembers(g)).has(userId)) return true;
      return false;
    },
  };
}
