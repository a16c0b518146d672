import type { ActivityEntry, ActivityRecord } from "../account/activity";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { iso } from "../lib/clock";
import type { ActivityOnlyInput, SecurityEventInput } from "./security-events";

// What goes into the user's activity log (durable/activity.ts) for each
// security event. The log is recorded from the same call sites as the
// webhooks (security-events.ts): one emit, both destinations. A few entries
// have no webhook (ActivityOnlyInput); one webhook has no entry
// (recovery_codes.low: a reminder, not something that happened).

/** The entry for an event, without its client and device (the request adds them); null: none. */
export function activityOf(
	input: SecurityEventInput | ActivityOnlyInput,
): Omit<ActivityRecord, "at" | "client" | "device"> | null {
	switch (input.type) {
		case "session.created":
			return { type: input.data.level === "full" ? "sign_in" : "sign_in.partial", method: input.data.method };
		case "sign_in.failed_limit":
			return { type: "sign_in.failed_limit", method: input.data.limit };
		case "second_factors.reset":
			return { type: "second_factors.reset", method: "server" };
		case "sessions.revoked":
			return { type: "sessions.revoked", method: input.data.method };
		case "recovery_codes.low":
			return null;
		case "passkey.added":
		case "passkey.removed":
		case "passkey.renamed":
		case "totp.enabled":
		case "totp.disabled":
		case "recovery_code.used":
		case "recovery_codes.generated":
		case "recovery_codes.regenerated":
		case "password.changed":
			return { type: input.type };
	}
}

/** An entry as the API shows it (API.md, Account security). */
export interface ActivityView {
	type: ActivityEntry["type"];
	at: string;
	method?: string;
	client?: ActivityEntry["client"];
	device?: string;
}

export function viewActivity(entry: ActivityEntry): ActivityView {
	return {
		type: entry.type,
		at: iso(entry.at),
		...(entry.method ? { method: entry.method } : {}),
		...(entry.client ? { client: entry.client } : {}),
		...(entry.device ? { device: entry.device } : {}),
	};
}

/** The user's log, newest first: one call to their object. */
export async function listUserActivity(
	deps: { userState: UserStateNamespace },
	userId: string,
): Promise<ActivityView[]> {
	const entries = await userStateFor(deps.userState, userId).listActivity();
	return entries.map(viewActivity);
}
