import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { describe, expect, it } from "vitest";
import { browserSignUp, call, ORIGIN, PASSWORD, sessionCookie } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import { browserLogin, userWithPasskey } from "../helpers/flows";
import { durableState, userRows } from "../helpers/property";

// A SameSite=Lax cookie still rides on a cross-site top-level navigation (a
// GET). Before this rule, a link or a redirect on another site to
// GET /api/webauthn/authenticate/options/ replaced the user's pending
// challenge: the assertion their own page was signing no longer matched, the
// verify failed and counted, and five such links locked them out for 15
// minutes. A cookie request the browser marks `Sec-Fetch-Site: cross-site`
// is now refused before it can write or count anything.

const CROSS_SITE = { "sec-fetch-site": "cross-site" };

function requestOptions(cookie: string, headers: Record<string, string> = {}) {
	return call<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
		"GET",
		"/api/webauthn/authenticate/options/",
		{ cookie, origin: null, headers },
	);
}

/** A browser user with a passkey, signed in with the password only (a partial cookie). */
async function partialBrowserUser() {
	const { user, authenticator } = await userWithPasskey();
	return { user, authenticator, cookie: await browserLogin(user.email) };
}

describe("cross-site cookie requests", () => {
	it("cannot lock a user out by replacing their pending challenge five times", async () => {
		const { user, authenticator } = await userWithPasskey();
		let cookie = await browserLogin(user.email);
		for (let round = 1; round <= 6; round++) {
			const options = await requestOptions(cookie);
			expect(options.status, `round ${round}`).toBe(200);
			const assertion = await authenticator.getAssertion(options.body.request_options);
			// Another site sends the victim's browser to the options route while they verify.
			const crossSite = await requestOptions(cookie, CROSS_SITE);
			const verified = await call("POST", "/api/webauthn/verify/", {
				cookie,
				origin: ORIGIN,
				body: { credential: assertion },
			});
			expect(verified.status, `round ${round}: ${JSON.stringify(verified.body)}`).toBe(200);
			expectError(crossSite, 403, "csrf_failed");
			// The first verify upgrades the partial session under a new cookie; later ones keep it.
			cookie = sessionCookie(verified.headers) ?? cookie;
		}
		expect((await durableState(user.id)).attempts).toBe(0);
	});

	it("changes nothing on the options routes: no challenge, no row, no expiry moved", async () => {
		const { user, cookie: partial } = await partialBrowserUser();
		const full = (await browserSignUp()).cookie;
		const fullUser = (await call<{ session: { user: { id: string } } }>("GET", "/api/auth/session/", { cookie: full }))
			.body.session.user.id;

		const before = { durable: await durableState(user.id), rows: await userRows(user.id) };
		const fullBefore = { durable: await durableState(fullUser), rows: await userRows(fullUser) };
		for (let i = 0; i < 5; i++) {
			expectError(await requestOptions(partial, CROSS_SITE), 403, "csrf_failed");
			const register = await call("GET", "/api/webauthn/register/options/?passwordless=true", {
				cookie: full,
				origin: null,
				headers: CROSS_SITE,
			});
			expectError(register, 403, "csrf_failed");
		}
		expect({ durable: await durableState(user.id), rows: await userRows(user.id) }).toEqual(before);
		expect({ durable: await durableState(fullUser), rows: await userRows(fullUser) }).toEqual(fullBefore);
	});

	it("refuses a cross-site cookie request on unsafe routes too, even with an allowed Origin", async () => {
		const user = await browserSignUp();
		const logout = await call("POST", "/api/auth/logout/", {
			cookie: user.cookie,
			origin: ORIGIN,
			headers: CROSS_SITE,
		});
		expectError(logout, 403, "csrf_failed");
		const reauth = await call("POST", "/api/auth/reauthenticate/", {
			cookie: user.cookie,
			origin: ORIGIN,
			headers: CROSS_SITE,
			body: { password: "not the password" },
		});
		expectError(reauth, 403, "csrf_failed");
		// Nothing was ended, and the wrong password above was not counted.
		expect((await call("GET", "/api/auth/session/", { cookie: user.cookie })).status).toBe(200);
	});

	it("still answers 401 first for a cross-site request without a live session (API.md's order)", async () => {
		const response = await requestOptions("__Host-pe_session=not-a-session", CROSS_SITE);
		expectError(response, 401, "not_authenticated");
	});

	it("lets same-origin, same-site, user-started and unmarked cookie requests through", async () => {
		const { cookie } = await partialBrowserUser();
		for (const site of ["same-origin", "same-site", "none", undefined]) {
			const response = await requestOptions(cookie, site ? { "sec-fetch-site": site } : {});
			expect(response.status, String(site)).toBe(200);
		}
	});

	it("does not apply to a bearer token, which no other site can make a browser send", async () => {
		const authenticator = new SoftAuthenticator();
		const { user } = await userWithPasskey(authenticator);
		const options = await call("GET", "/api/webauthn/authenticate/options/", {
			token: user.token,
			headers: CROSS_SITE,
		});
		expect(options.status).toBe(200);
		const login = await call<{ session_token: string }>("POST", "/api/auth/login/", {
			app: true,
			headers: CROSS_SITE,
			body: { email: user.email, password: PASSWORD },
		});
		expect(login.status).toBe(200);
	});
});
