// Settings → Security → Recent security activity: the account's log
// (GET /api/auth/activity/), newest first, in words. Every text goes in as a
// text node (dom.ts); the server's values are fixed words anyway.
import { type ActivityEvent, api } from "../api";
import { byId, clearError, h, showError } from "../dom";
import { timeElement } from "../time";

const SIGN_IN_METHODS: Record<string, string> = {
	password: "Signed in with your password",
	password_trusted_device: "Signed in with your password on a remembered device",
	passkey_sign_up: "Account created with a passkey",
	passkey: "Signed in with a passkey",
	totp: "Signed in with a code from your authenticator app",
	recovery_code: "Signed in with a recovery code",
	sign_up: "Account created",
	server: "Signed in through the app",
};

const REVOKED: Record<string, string> = {
	others: "Signed out everywhere else",
	one: "Signed out one other session",
	password_change: "Other sessions signed out by the password change",
	server: "Every session signed out by the app",
};

/** One line, in words, for an entry; an entry of a kind this page does not know yet keeps its type. */
export function describeActivity(event: ActivityEvent): string {
	const method = event.method ?? "";
	switch (event.type) {
		case "sign_in":
			return SIGN_IN_METHODS[method] ?? "Signed in";
		case "sign_in.partial":
			return method === "server"
				? "Signed in through the app, waiting for the second step"
				: "Password accepted, waiting for the second step";
		case "sign_in.failed_limit":
			return method === "second_factor"
				? "Sign-in paused after too many wrong second-step attempts"
				: "Sign-in paused after too many wrong passwords";
		case "passkey.added":
			return "Passkey added";
		case "passkey.renamed":
			return "Passkey renamed";
		case "passkey.removed":
			return "Passkey deleted";
		case "totp.enabled":
			return "Authenticator app turned on";
		case "totp.disabled":
			return "Authenticator app removed";
		case "recovery_codes.generated":
			return "Recovery codes created";
		case "recovery_codes.regenerated":
			return "New recovery codes generated";
		case "recovery_code.used":
			return "Recovery code used";
		case "sessions.revoked":
			return REVOKED[method] ?? "Sessions signed out";
		case "password.changed":
			return "Password changed";
		case "second_factors.reset":
			return "Two-factor authentication reset by support";
		default:
			return event.type;
	}
}

const ICONS: Record<string, string> = {
	"passkey.added": "icon-passkey",
	"passkey.renamed": "icon-passkey",
	"passkey.removed": "icon-passkey",
	"totp.enabled": "icon-app",
	"totp.disabled": "icon-app",
};

function activityItem(event: ActivityEvent): HTMLLIElement {
	const meta: (Node | string)[] = [timeElement(event.at)];
	if (event.device) meta.push(" · ", event.device);
	if (event.client === "app") meta.push(" · app");
	return h(
		"li",
		{ class: "item", "data-activity-type": event.type },
		h("span", { class: `item-icon ${ICONS[event.type] ?? "icon-recovery"}`, "aria-hidden": "true" }),
		h(
			"div",
			{ class: "item-body" },
			h("p", { class: "item-title" }, describeActivity(event)),
			h("p", { class: "item-meta" }, ...meta),
		),
	);
}

/** Loads and shows the log; called on load and after each change made on the page. */
export async function loadActivity(): Promise<void> {
	const region = byId("activity-error", HTMLElement);
	const list = byId("activity-list", HTMLOListElement);
	try {
		const { events } = await api<{ success: true; events: ActivityEvent[] }>("GET", "/api/auth/activity/");
		clearError(region);
		list.replaceChildren(...events.map(activityItem));
		byId("activity-empty", HTMLElement).hidden = events.length > 0;
	} catch (error) {
		showError(region, error);
	}
}
