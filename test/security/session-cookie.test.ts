import { describe, expect, it } from "vitest";
import { browserSignUp, call, ORIGIN, sessionSetCookie } from "../helpers/api";
import { expectError } from "../helpers/expect-error";

// The session cookie is `__Host-pe_session`: a browser keeps it only as this
// host set it (Secure, Path=/, no Domain), so a sibling subdomain or a plain
// http page cannot plant one of that name. A request that still carries two
// (an injected header, a cookie from before the prefix on another path) is
// refused: taking the first would sign the browser in as whoever wrote it.

function getSession(cookie: string) {
	return call("GET", "/api/auth/session/", { cookie });
}

describe("the session cookie", () => {
	it("is __Host-pe_session: HttpOnly, Secure, SameSite=Lax, Path=/ and no Domain", async () => {
		const response = await call("POST", "/api/auth/signup/", {
			origin: ORIGIN,
			body: { email: `cookie-${crypto.randomUUID()}@example.com`, password: "correct horse battery staple" },
		});
		const line = sessionSetCookie(response.headers) ?? "";
		expect(line).toMatch(/^__Host-pe_session=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43};/);
		const attributes = line
			.split(";")
			.slice(1)
			.map((part) => part.trim().toLowerCase());
		expect(attributes).toEqual(expect.arrayContaining(["httponly", "secure", "samesite=lax", "path=/"]));
		expect(attributes.some((attribute) => attribute.startsWith("domain"))).toBe(false);
	});

	it("refuses a request that carries it twice with 401, whichever comes first", async () => {
		const victim = await browserSignUp();
		const attacker = await browserSignUp();
		for (const cookie of [
			`${attacker.cookie}; ${victim.cookie}`,
			`${victim.cookie}; ${attacker.cookie}`,
			`${victim.cookie}; ${victim.cookie}`,
			`${victim.cookie}; other=1; ${attacker.cookie.replace("=", " = ")}`,
		]) {
			expectError(await getSession(cookie), 401, "not_authenticated");
		}
		// Refused before anything is done: an unsafe request with two cookies ends neither session.
		const logout = await call("POST", "/api/auth/logout/", {
			cookie: `${victim.cookie}; ${victim.cookie}`,
			origin: ORIGIN,
		});
		expectError(logout, 401, "not_authenticated");
		expect((await getSession(victim.cookie)).status).toBe(200);
		expect((await getSession(attacker.cookie)).status).toBe(200);
	});

	it("refuses two session cookies even beside a bearer token", async () => {
		const user = await browserSignUp();
		const token = user.cookie.split("=")[1] ?? "";
		const response = await call("GET", "/api/auth/session/", { token, cookie: `${user.cookie}; ${user.cookie}` });
		expectError(response, 401, "not_authenticated");
	});

	it("ignores the unprefixed pe_session cookie of earlier versions, and clears it", async () => {
		const user = await browserSignUp();
		const legacy = user.cookie.replace(/^__Host-/, "");
		expect(legacy).toMatch(/^pe_session=/);
		const response = await getSession(legacy);
		expectError(response, 401, "not_authenticated");
		const cleared = response.headers.getSetCookie().find((line) => line.startsWith("pe_session="));
		expect(cleared).toMatch(/^pe_session=;/);
		expect(cleared).toMatch(/max-age=0/i);
		expect(cleared).toMatch(/path=\//i);
		// Beside the current cookie, the old one changes nothing but is cleared too.
		const both = await getSession(`${legacy}; ${user.cookie}`);
		expect(both.status).toBe(200);
		expect(both.headers.getSetCookie().some((line) => /^pe_session=;.*max-age=0/i.test(line))).toBe(true);
	});
});
