import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DAY } from "../../src/lib/clock";
import { ConfigError, readConfig } from "../../src/lib/config";
import { toBase64Url } from "../../src/lib/encoding";
import { hmacWithNewest, parseKeySet } from "../../src/lib/key-set";
import { issueTrustedDevice, openTrustedDevice } from "../../src/services/trusted-devices";
import { userSql } from "../helpers/account";
import {
	type ApiResponse,
	type BrowserUser,
	browserSignUp,
	type CallOptions,
	call,
	ORIGIN,
	PASSWORD,
	sessionCookie,
	withVars,
} from "../helpers/api";
import { base64UrlSpellings, SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import { registerPasskey, setClock } from "../helpers/flows";
import { serverCall, uniqueExternalId } from "../helpers/server-api";
import { codeFor, totpActivate, totpSetup } from "../helpers/totp";
import { deliveriesAt, eventOf, receiverEndpoint } from "../helpers/webhooks";

// "Don't ask again on this device" (TRUSTED_DEVICE_DAYS): a browser that
// passed its second factor with `remember_device` gets `__Host-pe_device`,
// and its next password sign-ins for that user are full at once. Never a
// first factor, never another user's, never for apps; every change of the
// user's second factors, their password or "sign out everywhere else" ends it.

const ON = { TRUSTED_DEVICE_DAYS: "30" };
const DEVICE = "__Host-pe_device";

afterEach(() => {
	vi.restoreAllMocks();
});

interface SessionAnswer {
	session: { level: string; trusted_device_days?: number; user: { id: string } };
	session_token?: string;
}

/** The `__Host-pe_device` line a response sets, if any. */
function deviceSetCookie(response: ApiResponse<unknown>): string | undefined {
	return response.headers.getSetCookie().find((line) => line.startsWith(`${DEVICE}=`));
}

/** The device cookie a response sets, as a Cookie header pair; null when none or cleared. */
function deviceCookie(response: ApiResponse<unknown>): string | null {
	const pair = deviceSetCookie(response)?.split(";")[0];
	return pair && pair !== `${DEVICE}=` ? pair : null;
}

function cleared(response: ApiResponse<unknown>): boolean {
	const line = deviceSetCookie(response);
	return line !== undefined && /max-age=0/i.test(line);
}

/** A browser user (signed up with a password) with an authenticator app and ten recovery codes. */
interface TwoFactorUser extends BrowserUser {
	secret: string;
	codes: string[];
}

async function browserUserWithTotp(): Promise<TwoFactorUser> {
	const user = await browserSignUp();
	const setup = await totpSetup({ cookie: user.cookie });
	const activated = await totpActivate({ cookie: user.cookie }, await codeFor(setup.body.secret));
	const codes = activated.body.recovery_codes;
	if (activated.status !== 201 || !codes) throw new Error(`totp activation failed: ${activated.status}`);
	return { ...user, secret: setup.body.secret, codes };
}

/** A password sign-in as a browser, presenting `device` (a Cookie pair) when given. */
function browserLogin(user: { email: string }, device?: string | null, options: CallOptions = {}) {
	return call<SessionAnswer>("POST", "/api/auth/login/", {
		origin: ORIGIN,
		...(device ? { cookie: device } : {}),
		...options,
		body: { email: user.email, password: PASSWORD },
	});
}

/** Partial sign-in, then a recovery code (with `remember_device` unless `extra` says otherwise); returns the full session cookie and the device cookie. */
async function remember(user: TwoFactorUser, extra: Record<string, unknown> = { remember_device: true }) {
	const login = await browserLogin(user);
	const partial = sessionCookie(login.headers);
	if (login.body.session.level !== "partial" || !partial) throw new Error("expected a partial browser sign-in");
	const code = user.codes.shift() ?? "";
	const verified = await call<SessionAnswer>("POST", "/api/recovery-codes/verify/", {
		cookie: partial,
		body: { code, ...extra },
	});
	expect(verified.status).toBe(200);
	return { verified, session: sessionCookie(verified.headers) ?? "", device: deviceCookie(verified) };
}

async function rememberedUser() {
	const user = await browserUserWithTotp();
	const { session, device } = await remember(user);
	if (!device) throw new Error("no device cookie");
	return { user, session, device };
}

async function epochOf(userId: string): Promise<number> {
	const row = await userSql(userId, "SELECT trusted_device_epoch AS epoch FROM account").first<{ epoch: number }>();
	return row?.epoch ?? -1;
}

async function currentAmr(cookie: string): Promise<string[]> {
	const list = await call<{ sessions: { current: boolean; amr: string[] }[] }>("GET", "/api/auth/sessions/", {
		cookie,
	});
	return list.body.sessions.find((entry) => entry.current)?.amr ?? [];
}

describe("trusted devices: off by default", () => {
	it("sets no device cookie and offers nothing without TRUSTED_DEVICE_DAYS", async () => {
		const user = await browserUserWithTotp();
		const login = await browserLogin(user);
		expect(login.body.session.level).toBe("partial");
		expect(login.body.session).not.toHaveProperty("trusted_device_days");
		const { verified, device } = await remember(user);
		expect(verified.body.session.level).toBe("full");
		expect(device).toBeNull();
		expect(deviceSetCookie(verified)).toBeUndefined();
	});

	it("ignores a device cookie while off, even one that was valid", async () => {
		const { user, device } = await withVars(ON, rememberedUser);
		const login = await browserLogin(user, device);
		expect(login.body.session.level).toBe("partial");
	});

	it("refuses a TRUSTED_DEVICE_DAYS that is set but wrong, and reads 0 as off", () => {
		for (const value of ["91", "-1", "30d", "1.5", "x"]) {
			expect(() => readConfig({ ...env, TRUSTED_DEVICE_DAYS: value })).toThrow(ConfigError);
		}
		expect(readConfig({ ...env, TRUSTED_DEVICE_DAYS: "0" }).trustedDeviceDays).toBeNull();
		expect(readConfig({ ...env, TRUSTED_DEVICE_DAYS: " 90 " }).trustedDeviceDays).toBe(90);
		expect(readConfig({ ...env, TRUSTED_DEVICE_DAYS: undefined }).trustedDeviceDays).toBeNull();
	});
});

describe("trusted devices: remembering a browser", () => {
	it("offers it on a partial browser session, and sets a __Host- cookie: HttpOnly, Secure, SameSite=Lax, Path=/, Max-Age of the days", async () => {
		await withVars(ON, async () => {
			const user = await browserUserWithTotp();
			const login = await browserLogin(user);
			expect(login.body.session).toMatchObject({ level: "partial", trusted_device_days: 30 });
			const partial = sessionCookie(login.headers) ?? "";
			const again = await call<SessionAnswer>("GET", "/api/auth/session/", { cookie: partial });
			expect(again.body.session.trusted_device_days).toBe(30);

			const { verified, session } = await remember(user);
			const line = deviceSetCookie(verified) ?? "";
			expect(line).toMatch(/^__Host-pe_device=1\.[A-Za-z0-9_-]+\.\d+\.\d+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43};/);
			const attributes = line
				.split(";")
				.slice(1)
				.map((part) => part.trim().toLowerCase());
			expect(attributes).toEqual(
				expect.arrayContaining(["httponly", "secure", "samesite=lax", "path=/", `max-age=${30 * 24 * 3600}`]),
			);
			expect(attributes.some((attribute) => attribute.startsWith("domain"))).toBe(false);
			// A full session offers nothing: there is no second factor to skip.
			const full = await call<SessionAnswer>("GET", "/api/auth/session/", { cookie: session });
			expect(full.body.session).not.toHaveProperty("trusted_device_days");
		});
	});

	it("remembers nothing when the box is not ticked", async () => {
		await withVars(ON, async () => {
			const user = await browserUserWithTotp();
			for (const extra of [{}, { remember_device: false }]) {
				const { verified, device } = await remember(user, extra);
				expect(verified.body.session.level).toBe("full");
				expect(device).toBeNull();
			}
		});
	});

	it("refuses a remember_device that is not a boolean", async () => {
		await withVars(ON, async () => {
			const user = await browserUserWithTotp();
			const partial = sessionCookie((await browserLogin(user)).headers) ?? "";
			const response = await call("POST", "/api/recovery-codes/verify/", {
				cookie: partial,
				body: { code: user.codes[0], remember_device: "yes" },
			});
			expectError(response, 400, "invalid_request");
		});
	});

	it("works from each verify route: passkey, authenticator app, recovery code", async () => {
		await withVars(ON, async () => {
			const user = await browserUserWithTotp();
			const authenticator = new SoftAuthenticator();
			const added = await registerPasskey(asTestUser(user), authenticator, { auth: { cookie: user.cookie } });
			expect(added.response.status).toBe(201);

			const passkeyPartial = sessionCookie((await browserLogin(user)).headers) ?? "";
			const options = await call<{ request_options: Parameters<SoftAuthenticator["getAssertion"]>[0] }>(
				"GET",
				"/api/webauthn/authenticate/options/",
				{ cookie: passkeyPartial },
			);
			const credential = await authenticator.getAssertion(options.body.request_options);
			const byPasskey = await call("POST", "/api/webauthn/verify/", {
				cookie: passkeyPartial,
				body: { credential, remember_device: true },
			});
			expect(byPasskey.status).toBe(200);
			expect(deviceCookie(byPasskey)).not.toBeNull();

			const totpPartial = sessionCookie((await browserLogin(user)).headers) ?? "";
			const byTotp = await call("POST", "/api/totp/verify/", {
				cookie: totpPartial,
				body: { code: await codeFor(user.secret, 1), remember_device: true },
			});
			expect(byTotp.status).toBe(200);
			const device = deviceCookie(byTotp);
			expect(device).not.toBeNull();
			expect((await browserLogin(user, device)).body.session.level).toBe("full");
		});
	});

	it("remembers nothing on a verify of a full session (a reauthentication)", async () => {
		await withVars(ON, async () => {
			const user = await browserUserWithTotp();
			const response = await call("POST", "/api/recovery-codes/verify/", {
				cookie: user.cookie,
				body: { code: user.codes[0], remember_device: true },
			});
			expect(response.status).toBe(200);
			expect(deviceSetCookie(response)).toBeUndefined();
		});
	});
});

describe("trusted devices: the next password sign-in", () => {
	it("is full with the cookie, recording the password only (amr pwd, no mfa), and partial without it", async () => {
		await withVars(ON, async () => {
			const { user, device } = await rememberedUser();
			const trusted = await browserLogin(user, device);
			expect(trusted.status).toBe(200);
			expect(trusted.body.session.level).toBe("full");
			expect(trusted.body.session).not.toHaveProperty("trusted_device_days");
			const cookie = sessionCookie(trusted.headers) ?? "";
			expect(await currentAmr(cookie)).toEqual(["pwd"]);
			// The cookie stays as it was: using it neither clears nor extends it.
			expect(deviceSetCookie(trusted)).toBeUndefined();

			expect((await browserLogin(user)).body.session.level).toBe("partial");
			// Again and again, until it expires or is ended.
			expect((await browserLogin(user, device)).body.session.level).toBe("full");
		});
	});

	it("is never a first factor: a wrong password with the cookie is invalid_credentials", async () => {
		await withVars(ON, async () => {
			const { user, device } = await rememberedUser();
			const response = await call("POST", "/api/auth/login/", {
				origin: ORIGIN,
				cookie: device,
				body: { email: user.email, password: "not the password at all" },
			});
			expectError(response, 400, "invalid_credentials");
			expect(sessionCookie(response.headers)).toBeNull();
		});
	});

	it("does nothing for another user of the same browser, and leaves their cookie alone", async () => {
		await withVars(ON, async () => {
			const { device } = await rememberedUser();
			const other = await browserUserWithTotp();
			const login = await browserLogin(other, device);
			expect(login.body.session.level).toBe("partial");
			expect(deviceSetCookie(login)).toBeUndefined();
		});
	});

	it("is partial with a tampered cookie (any field or the MAC), and clears it", async () => {
		await withVars(ON, async () => {
			const { user, device } = await rememberedUser();
			const [name, value] = device.split("=") as [string, string];
			const fields = value.split(".");
			const flip = (text: string) => (text.endsWith("A") ? `${text.slice(0, -1)}B` : `${text.slice(0, -1)}A`);
			const tampered = [
				...fields.map((_, index) => fields.map((field, i) => (i === index ? flip(field) : field)).join(".")),
				// A later expiry or a newer epoch under the old MAC.
				[fields[0], fields[1], String(Number(fields[2]) + DAY), ...fields.slice(3)].join("."),
				[fields[0], fields[1], fields[2], String(Number(fields[3]) + 1), ...fields.slice(4)].join("."),
				fields.slice(0, 5).join("."),
				// The same MAC bytes spelled another way (base64url's spare low bits of its last character).
				...base64UrlSpellings(fields[5] ?? "")
					.slice(1)
					.map((spelling) => [...fields.slice(0, 5), spelling].join(".")),
				"",
			];
			for (const each of tampered) {
				const login = await browserLogin(user, `${name}=${each}`);
				expect(login.body.session.level, each).toBe("partial");
				if (each !== "") expect(cleared(login), each).toBe(true);
			}
			// Two device cookies: neither is trusted.
			expect((await browserLogin(user, `${device}; ${device}`)).body.session.level).toBe("partial");
			expect((await browserLogin(user, device)).body.session.level).toBe("full");
		});
	});

	it("is partial once the cookie's days are over, and clears it", async () => {
		await withVars(ON, async () => {
			const { user, device } = await rememberedUser();
			setClock(Date.now() + 29 * DAY);
			expect((await browserLogin(user, device)).body.session.level).toBe("full");
			setClock(Date.now() + 30 * DAY + 1000);
			const login = await browserLogin(user, device);
			expect(login.body.session.level).toBe("partial");
			expect(cleared(login)).toBe(true);
		});
	});

	it("survives a sign-out: that is what it is for", async () => {
		await withVars(ON, async () => {
			const { user, session, device } = await rememberedUser();
			expect((await call("POST", "/api/auth/logout/", { cookie: session })).status).toBe(200);
			expect((await browserLogin(user, device)).body.session.level).toBe("full");
		});
	});

	it("is recorded: session.created with method password_trusted_device, and the remembering verify says so", async () => {
		const endpoint = receiverEndpoint();
		const { user, device } = await withVars(ON, async () => {
			const user = await browserUserWithTotp();
			const login = await browserLogin(user);
			const code = user.codes.shift() ?? "";
			const verified = await withVars({ ...ON, WEBHOOK_URLS: endpoint.url }, () =>
				call("POST", "/api/recovery-codes/verify/", {
					cookie: sessionCookie(login.headers) ?? "",
					body: { code, remember_device: true },
				}),
			);
			return { user, device: deviceCookie(verified) ?? "" };
		});
		await withVars({ ...ON, WEBHOOK_URLS: endpoint.url }, () => browserLogin(user, device));
		const events = (await deliveriesAt(endpoint.name, 3)).map(eventOf);
		const created = events.filter((event) => event.type === "session.created").map((event) => event.data);
		expect(created).toEqual(
			expect.arrayContaining([
				{ method: "recovery_code", level: "full", client: "browser", device_remembered: true },
				{ method: "password_trusted_device", level: "full", client: "browser" },
			]),
		);
	});
});

describe("trusted devices: never for apps", () => {
	it("an app's verify gets no device cookie and no offer", async () => {
		await withVars(ON, async () => {
			const user = await browserUserWithTotp();
			const login = await call<SessionAnswer>("POST", "/api/auth/login/", {
				app: true,
				body: { email: user.email, password: PASSWORD },
			});
			expect(login.body.session.level).toBe("partial");
			expect(login.body.session).not.toHaveProperty("trusted_device_days");
			const token = login.body.session_token ?? "";
			const verified = await call<SessionAnswer>("POST", "/api/recovery-codes/verify/", {
				token,
				app: true,
				body: { code: user.codes[0], remember_device: true },
			});
			expect(verified.status).toBe(200);
			expect(verified.body.session.level).toBe("full");
			expect(deviceSetCookie(verified)).toBeUndefined();
		});
	});

	it("an app's password sign-in does not use a valid device cookie", async () => {
		await withVars(ON, async () => {
			const { user, device } = await rememberedUser();
			const login = await call<SessionAnswer>("POST", "/api/auth/login/", {
				app: true,
				cookie: device,
				origin: null,
				body: { email: user.email, password: PASSWORD },
			});
			expect(login.body.session.level).toBe("partial");
			expect(deviceSetCookie(login)).toBeUndefined();
		});
	});
});

describe("trusted devices: what ends them", () => {
	async function expectEnded(user: { id: string; email: string }, device: string, epochBefore: number) {
		expect(await epochOf(user.id)).toBe(epochBefore + 1);
		const login = await browserLogin(user, device);
		expect(login.body.session.level).toBe("partial");
		expect(cleared(login)).toBe(true);
	}

	/** A remembered user who also has a passkey (added before the browser was remembered). */
	async function rememberedWithPasskey() {
		const user = await browserUserWithTotp();
		const added = await registerPasskey(asTestUser(user), new SoftAuthenticator(), { auth: { cookie: user.cookie } });
		expect(added.response.status).toBe(201);
		const { session, device } = await remember(user);
		if (!device) throw new Error("no device cookie");
		return { user, session, device, passkeyId: added.response.body.passkey.id };
	}

	/** Links a browser user to an id of the app's, as the server API's PUT would have. */
	async function linkExternalId(userId: string): Promise<string> {
		const externalId = uniqueExternalId("trusted");
		await env.DB.prepare("UPDATE users SET external_id = ? WHERE id = ?").bind(externalId, userId).run();
		await userSql(userId, "UPDATE account SET external_id = ?", externalId).run();
		return externalId;
	}

	it("a passkey added", async () => {
		await withVars(ON, async () => {
			const { user, session, device } = await rememberedUser();
			const before = await epochOf(user.id);
			const added = await registerPasskey(asTestUser(user), new SoftAuthenticator(), { auth: { cookie: session } });
			expect(added.response.status).toBe(201);
			await expectEnded(user, device, before);
		});
	});

	it("a passkey removed", async () => {
		await withVars(ON, async () => {
			const { user, session, device, passkeyId } = await rememberedWithPasskey();
			const before = await epochOf(user.id);
			expect((await call("DELETE", `/api/webauthn/${passkeyId}/`, { cookie: session })).status).toBe(200);
			await expectEnded(user, device, before);
		});
	});

	it("an authenticator app enabled", async () => {
		await withVars(ON, async () => {
			const user = await browserSignUp();
			const added = await registerPasskey(asTestUser(user), new SoftAuthenticator(), { auth: { cookie: user.cookie } });
			const codes = added.response.body.recovery_codes ?? [];
			const { session, device } = await remember({ ...user, secret: "", codes });
			if (!device) throw new Error("no device cookie");
			const before = await epochOf(user.id);
			const setup = await totpSetup({ cookie: session });
			expect((await totpActivate({ cookie: session }, await codeFor(setup.body.secret))).status).toBe(201);
			await expectEnded(user, device, before);
		});
	});

	it("an authenticator app removed", async () => {
		await withVars(ON, async () => {
			const { user, session, device } = await rememberedWithPasskey();
			const before = await epochOf(user.id);
			expect((await call("DELETE", "/api/totp/", { cookie: session })).status).toBe(200);
			await expectEnded(user, device, before);
		});
	});

	it("but not a removal refused as the last authenticator", async () => {
		await withVars(ON, async () => {
			const { user, session, device } = await rememberedUser();
			const before = await epochOf(user.id);
			expectError(await call("DELETE", "/api/totp/", { cookie: session }), 400, "last_authenticator");
			expect(await epochOf(user.id)).toBe(before);
			expect((await browserLogin(user, device)).body.session.level).toBe("full");
		});
	});

	it("recovery codes regenerated", async () => {
		await withVars(ON, async () => {
			const { user, session, device } = await rememberedUser();
			const before = await epochOf(user.id);
			expect((await call("POST", "/api/recovery-codes/regenerate/", { cookie: session })).status).toBe(200);
			await expectEnded(user, device, before);
		});
	});

	it("a password change (even to the same password)", async () => {
		await withVars(ON, async () => {
			const { user, session, device } = await rememberedUser();
			const before = await epochOf(user.id);
			const changed = await call("POST", "/api/auth/password/", { cookie: session, body: { password: PASSWORD } });
			expect(changed.status).toBe(200);
			await expectEnded(user, device, before);
		});
	});

	it('"sign out everywhere else"', async () => {
		await withVars(ON, async () => {
			const { user, session, device } = await rememberedUser();
			const before = await epochOf(user.id);
			expect((await call("POST", "/api/auth/sessions/revoke-others/", { cookie: session })).status).toBe(200);
			await expectEnded(user, device, before);
		});
	});

	it("the server API signing the user out everywhere", async () => {
		await withVars(ON, async () => {
			const { user, device } = await rememberedUser();
			const externalId = await linkExternalId(user.id);
			const before = await epochOf(user.id);
			const revoked = await serverCall("DELETE", `/users/${encodeURIComponent(externalId)}/sessions`);
			expect(revoked.status).toBe(200);
			await expectEnded(user, device, before);
		});
	});

	it("the server API's help-desk reset of the second factors", async () => {
		await withVars(ON, async () => {
			const { user, device } = await rememberedUser();
			const externalId = await linkExternalId(user.id);
			const before = await epochOf(user.id);
			const reset = await serverCall("POST", `/users/${encodeURIComponent(externalId)}/second-factors/reset`);
			expect(reset.status).toBe(200);
			expect(await epochOf(user.id)).toBe(before + 1);
			// With no second factor left the sign-in is full anyway; a new one must not revive the old cookie.
			const full = await browserLogin(user);
			expect(full.body.session.level).toBe("full");
			const cookie = sessionCookie(full.headers) ?? "";
			const setup = await totpSetup({ cookie });
			expect((await totpActivate({ cookie }, await codeFor(setup.body.secret))).status).toBe(201);
			const login = await browserLogin(user, device);
			expect(login.body.session.level).toBe("partial");
			expect(cleared(login)).toBe(true);
		});
	});
});

describe("trusted devices: key rotation", () => {
	const OLD = env.RECOVERY_CODE_HMAC_KEY ?? "";
	const NEW = "trusted-device-rotation-key-0123456789abcdef";

	it("keeps a cookie valid while its key is listed, and ends it when the key is dropped", async () => {
		const { user, device } = await withVars(ON, rememberedUser);
		const rotated = { ...ON, RECOVERY_CODE_HMAC_KEY: `v2:${NEW},v1:${OLD}` };
		const dropped = { ...ON, RECOVERY_CODE_HMAC_KEY: `v2:${NEW}` };
		expect((await withVars(rotated, () => browserLogin(user, device))).body.session.level).toBe("full");
		const login = await withVars(dropped, () => browserLogin(user, device));
		expect(login.body.session.level).toBe("partial");
		expect(cleared(login)).toBe(true);

		// A browser remembered after the rotation is signed with the newest key, and outlives the old one.
		const fresh = await withVars(rotated, () => remember(user));
		const newDevice = fresh.device ?? "";
		expect((await withVars(dropped, () => browserLogin(user, newDevice))).body.session.level).toBe("full");
		expect(
			(await withVars({ ...ON, RECOVERY_CODE_HMAC_KEY: OLD }, () => browserLogin(user, newDevice))).body.session.level,
		).toBe("partial");
	});

	it("signs under a key of its own: the same secret's recovery-code HMAC of the payload is not a device MAC", async () => {
		const keys = parseKeySet("RECOVERY_CODE_HMAC_KEY", OLD);
		if (!keys) throw new Error("no key");
		const user = { id: "AAAAAAAAAAAAAAAAAAAAAA", trustedDeviceEpoch: 3 };
		const { value } = await issueTrustedDevice(keys, user, Date.now(), 30);
		expect(await openTrustedDevice(keys, value)).toMatchObject({ userId: user.id, epoch: 3 });
		const payload = value.split(".").slice(0, 5).join(".");
		const [hex] = await hmacWithNewest(keys, [payload]);
		const bytes = new Uint8Array((hex ?? "").match(/../g)?.map((pair) => Number.parseInt(pair, 16)) ?? []);
		expect(await openTrustedDevice(keys, `${payload}.${toBase64Url(bytes)}`)).toBeNull();
	});
});

function asTestUser(user: BrowserUser) {
	return { id: user.id, email: user.email, token: "" };
}
