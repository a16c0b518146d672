import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { verifyWebhook } from "../../examples/verify-webhook";
import { normalizeRecoveryCode } from "../../src/services/recovery-codes";
import { SECURITY_EVENT_TYPES, type SecurityEvent } from "../../src/services/security-events";
import { hashToken } from "../../src/services/sessions";
import { call, logIn, PASSWORD, signUp, withVars } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { addPasskey, verifyPasskey } from "../helpers/flows";
import { postSignIn, signInAssertion, userWithDiscoverablePasskey } from "../helpers/passwordless";
import { createServerUser, fullServerSession, SERVER_KEY, serverCall } from "../helpers/server-api";
import { freezeClock } from "../helpers/time";
import {
	codeFor,
	enableTotp,
	midStep,
	partialToken,
	verifyRecoveryCode,
	verifyTotp,
	wrongCodeFor,
} from "../helpers/totp";
import { deliveriesAt, eventOf, receiverEndpoint } from "../helpers/webhooks";

// API.md: "No event carries a code, secret, token or credential id." The
// whole life of an account runs with a webhook endpoint configured; every
// event it causes is delivered through the real queue, verified with the
// README's function, held to an allow-list of fields, and searched for every
// secret the flow handled.

afterEach(() => vi.restoreAllMocks());

/** The only fields each type's `data` may have. */
const DATA_FIELDS: Record<string, string[]> = {
	"passkey.added": ["passkey_id", "name"],
	"passkey.removed": ["passkey_id"],
	"totp.enabled": [],
	"totp.disabled": [],
	"recovery_code.used": ["unused"],
	"recovery_codes.low": ["unused"],
	"recovery_codes.regenerated": ["total"],
	"second_factors.reset": ["passkeys_removed", "totp_removed", "sessions_revoked"],
	"session.created": ["method", "level", "client"],
	"sign_in.failed_limit": ["limit"],
};

/** A short, comparable form of an event: its type and the values that say what happened. */
function summary(event: SecurityEvent): string {
	const data = event.data;
	switch (event.type) {
		case "session.created":
			return `session.created:${data.method}:${data.level}`;
		case "recovery_code.used":
		case "recovery_codes.low":
			return `${event.type}:${data.unused}`;
		case "sign_in.failed_limit":
			return `sign_in.failed_limit:${data.limit}`;
		default:
			return event.type;
	}
}

describe("security events", () => {
	it("are sent at each step of an account's life, and carry no code, secret, token or credential id", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const endpoint = receiverEndpoint();
		const secrets: string[] = [PASSWORD, env.WEBHOOK_SECRET ?? ""];
		const tokens: string[] = [];

		const { user, userId, passwordless, appUser } = await withVars({ WEBHOOK_URLS: endpoint.url }, async () => {
			const user = await signUp();
			tokens.push(user.token);
			const totp = await enableTotp(user);
			const recoveryCodes = totp.recoveryCodes ?? [];
			secrets.push(totp.secret, ...recoveryCodes, ...recoveryCodes.map(normalizeRecoveryCode));
			const first = await addPasskey(user, undefined, "Work laptop");
			const firstAuthenticator = new SoftAuthenticator();
			const second = await addPasskey(user, firstAuthenticator);
			secrets.push(first.credential_id, second.credential_id);

			// Each second factor upgrades a partial session to a full one.
			move(start + 30_000);
			const viaTotp = await partialToken(user);
			const totpCode = await codeFor(totp.secret);
			secrets.push(totpCode);
			tokens.push(viaTotp, (await verifyTotp(viaTotp, totpCode)).body.session_token ?? "");
			const viaPasskey = await partialToken(user);
			const passkeyVerified = await verifyPasskey(viaPasskey, firstAuthenticator);
			expect(passkeyVerified.status).toBe(200);
			tokens.push(viaPasskey, passkeyVerified.body.session_token ?? "");
			const viaCode = await partialToken(user);
			const recovered = await verifyRecoveryCode(viaCode, recoveryCodes[0]);
			const full = recovered.body.session_token ?? "";
			tokens.push(viaCode, full);

			// Six more codes on the full session leave three: the last use also says "low".
			for (const code of recoveryCodes.slice(1, 7)) expect((await verifyRecoveryCode(full, code)).status).toBe(200);
			const regenerated = await call<{ recovery_codes: string[] }>("POST", "/api/recovery-codes/regenerate/", {
				token: full,
			});
			expect(regenerated.status).toBe(200);
			secrets.push(...regenerated.body.recovery_codes, ...regenerated.body.recovery_codes.map(normalizeRecoveryCode));

			// Five wrong codes reach the second-factor limit: one event, from the fifth;
			// an attempt refused by the limit afterwards sends none.
			const guessing = await partialToken(user);
			const wrong = await wrongCodeFor(totp.secret);
			for (let i = 0; i < 5; i++) expect((await verifyTotp(guessing, wrong)).status).toBe(400);
			const locked = await partialToken(user);
			tokens.push(guessing, locked);
			expect((await verifyTotp(locked, wrong)).status).toBe(429);

			expect((await call("DELETE", `/api/webauthn/${first.id}/`, { token: full })).status).toBe(200);
			expect((await call("DELETE", "/api/totp/", { token: full })).status).toBe(200);

			// Ten wrong passwords reach the password limit: one event, from the tenth.
			for (let i = 0; i < 10; i++) expect((await logIn(user.email, "not the password")).status).toBe(400);
			expect((await logIn(user.email, "not the password")).status).toBe(429);

			const passwordless = await userWithDiscoverablePasskey();
			const signedIn = await postSignIn(await signInAssertion(passwordless.authenticator));
			expect(signedIn.status).toBe(200);
			tokens.push(passwordless.user.token, signedIn.body.session_token ?? "");
			const credentialIds = passwordless.authenticator.credentials.map((c) => c.credentialId);
			expect(credentialIds).toHaveLength(1);
			secrets.push(...credentialIds, passwordless.userHandle, passwordless.user.email);

			// A user of the app's own (server API): a vouched session, a passkey, the help-desk reset.
			const appUser = await createServerUser();
			const appToken = await fullServerSession(appUser.external_id);
			const appPasskey = await addPasskey({ id: appUser.id, email: appUser.email, token: appToken });
			const reset = await serverCall("POST", `/users/${appUser.external_id}/second-factors/reset`);
			expect(reset.status).toBe(200);
			secrets.push(SERVER_KEY, appToken, appPasskey.credential_id, appUser.email);
			tokens.push(appToken);
			return { user, userId: user.id, passwordless, appUser };
		});
		secrets.push(user.email, ...tokens, ...(await Promise.all(tokens.map(hashToken))));

		const expectedForUser = [
			"session.created:sign_up:full",
			"totp.enabled",
			"passkey.added",
			"passkey.added",
			"session.created:password:partial",
			"session.created:totp:full",
			"session.created:password:partial",
			"session.created:passkey:full",
			"session.created:password:partial",
			"recovery_code.used:9",
			"session.created:recovery_code:full",
			"recovery_code.used:8",
			"recovery_code.used:7",
			"recovery_code.used:6",
			"recovery_code.used:5",
			"recovery_code.used:4",
			"recovery_code.used:3",
			"recovery_codes.low:3",
			"recovery_codes.regenerated",
			"session.created:password:partial",
			"sign_in.failed_limit:second_factor",
			"session.created:password:partial",
			"passkey.removed",
			"totp.disabled",
			"sign_in.failed_limit:password",
		];
		const expectedForPasswordless = ["session.created:sign_up:full", "passkey.added", "session.created:passkey:full"];
		const expectedForAppUser = ["session.created:server:full", "passkey.added", "second_factors.reset"];
		const deliveries = await deliveriesAt(
			endpoint.name,
			expectedForUser.length + expectedForPasswordless.length + expectedForAppUser.length,
		);

		const events: SecurityEvent[] = [];
		for (const delivery of deliveries) {
			events.push(
				(await verifyWebhook(
					env.WEBHOOK_SECRET ?? "",
					new Headers(delivery.headers),
					delivery.body,
					start,
				)) as SecurityEvent,
			);
		}
		const of = (id: string) =>
			events
				.filter((e) => e.user.id === id)
				.map(summary)
				.sort();
		expect(of(userId)).toEqual([...expectedForUser].sort());
		expect(of(passwordless.user.id)).toEqual([...expectedForPasswordless].sort());
		expect(of(appUser.id)).toEqual([...expectedForAppUser].sort());
		for (const event of events) {
			expect(event.user.external_id).toBe(event.user.id === appUser.id ? appUser.external_id : null);
		}
		expect(new Set(events.map((e) => e.id)).size).toBe(events.length);

		const added = events.find((e) => e.type === "passkey.added" && e.data.name === "Work laptop");
		expect(added?.data.passkey_id).toMatch(/^[A-Za-z0-9_-]+$/);
		const removed = events.find((e) => e.type === "passkey.removed");
		expect(removed?.data.passkey_id).toBe(added?.data.passkey_id);
		expect(events.filter((e) => e.type === "session.created").every((e) => e.data.client === "app")).toBe(true);

		for (const event of events) {
			expect(Object.keys(event).sort()).toEqual(["data", "id", "timestamp", "type", "user"]);
			expect(Object.keys(event.user).sort()).toEqual(["external_id", "id"]);
			expect(SECURITY_EVENT_TYPES).toContain(event.type);
			expect(Object.keys(event.data).sort()).toEqual([...(DATA_FIELDS[event.type] ?? ["?"])].sort());
		}
		for (const delivery of deliveries) {
			// The timestamp header is left out: ten digits could hold a six-digit TOTP code by chance.
			const { "webhook-timestamp": _timestamp, ...headers } = delivery.headers;
			const text = `${delivery.body} ${JSON.stringify(headers)}`;
			for (const secret of secrets.filter((s) => s.length > 0)) expect(text).not.toContain(secret);
			expect(eventOf(delivery).type).not.toBe("");
		}
	}, 120_000);
});
