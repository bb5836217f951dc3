/**
 * What `serve` needs from the configuration, checked before anything starts: one line per problem,
 * naming the variable (../shared/CONTRACT.md, "Configuration").
 */
import type { Config } from "../config.js";

/** Every problem with the Slack part of the configuration; empty when the app can start. */
export function slackConfigProblems(config: Config): string[] {
  const s = config.slack;
  const problems: string[] = [];
  if (!s.botToken) problems.push("SLACK_BOT_TOKEN: required by serve (the bot token, xoxb-...)");
  else if (!s.botToken.startsWith("xoxb-"))
    problems.push("SLACK_BOT_TOKEN: expected a bot token starting with xoxb-");
  if (s.appToken !== undefined && !s.appToken.startsWith("xapp-"))
    problems.push(
      "SLACK_APP_TOKEN: expected an app-level token starting with xapp- (or leave it unset for HTTP mode)",
    );
  if (!s.appToken && !s.signingSecret)
    problems.push(
      "SLACK_SIGNING_SECRET: required in HTTP mode (set SLACK_APP_TOKEN to use Socket Mode instead)",
    );
  if (!s.itChannel)
    problems.push("IMAGE_CHECK_IT_CHANNEL: required by serve (the id of the IT channel, C...)");
  else if (!/^[CG][A-Z0-9]{2,}$/.test(s.itChannel))
    problems.push(
      `IMAGE_CHECK_IT_CHANNEL: expected a channel id such as C0123ABCD, not a name, got "${s.itChannel}"`,
    );
  if (s.approvers.length === 0)
    problems.push(
      "IMAGE_CHECK_APPROVERS: required by serve (comma-separated user ids U... and user group ids S...)",
    );
  return problems;
}
