import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { clock } from "../../src/lib/clock";
import { call, signUp } from "../helpers/api";
import { browserSignUp, partialLogin, userWithPasskey, verifyPasskey } from "../helpers/flows";
import { tokenFor } from "../helpers/tokens";

// Another Worker of the same account binds passkey-edge's RPC entrypoint
// (AuthService). Here that Worker is examples/service-binding-worker, run as
// an auxiliary Worker whose AUTH binding points at the Worker under test: each
// call below goes test → example Worker → service binding → AuthService.

interface ExampleEnv {
	EXAMPLE_APP: Fetcher;
}

const example = (env as unknown as ExampleEnv).EXAMPLE_APP;

async function get(path: string, headers: Record<string, string> = {}) {
	const response = await example.fetch(`https://app.example.com${path}`, { headers });
	return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

afterEach(() => {
	vi.restoreAllMocks();
});

describe("AuthService.session() through a service binding", () => {
	it("answers the bearer session's user, amr and acr to the bound Worker", async () => {
		const user = await signUp();
		const response = await get("/me", { authorization: `Bearer ${user.token}` });
		expect(response).toEqual({
			status: 200,
			body: { user: { id: user.id, email: user.email }, amr: ["pwd"], acr: "aal1", auth_time: expect.any(Number) },
		});
	});

	it("reads the browser's session cookie passed on as it came", async () => {
		const user = await browserSignUp();
		const response = await get("/me", { cookie: `theme=dark; ${user.cookie}` });
		expect(response.status).toBe(200);
		expect(response.body.user).toEqual({ id: user.id, email: user.email });
		// An empty Authorization header is no header, as on the HTTP routes: the cookie still counts.
		expect((await get("/me", { authorization: "", cookie: user.cookie })).status).toBe(200);
		// A bearer token that is not a session does not fall back to the cookie.
		expect((await get("/me", { authorization: "Bearer nope", cookie: user.cookie })).status).toBe(401);
	});

	it("answers a full session after a second factor with its methods", async () => {
		const { user, authenticator } = await userWithPasskey();
		const partial = await partialLogin(user);
		// A partial session is not signed in for the app.
		expect(await get("/me", { authorization: `Bearer ${partial}` })).toEqual({
			status: 403,
			body: { error: "mfa_required" },
		});
		const verified = await verifyPasskey(partial, authenticator);
		const response = await get("/me", { authorization: `Bearer ${verified.body.session_token}` });
		expect(response.status).toBe(200);
		expect(response.body).toMatchObject({ amr: ["pwd", "hwk", "user", "mfa"], acr: "aal2" });
	});

	it("answers null for no session, an unknown token, a malformed header and a logged-out session", async () => {
		expect((await get("/me")).status).toBe(401);
		expect((await get("/me", { authorization: "Bearer not-a-session" })).status).toBe(401);
		expect((await get("/me", { authorization: "Basic dXNlcjpwYXNz" })).status).toBe(401);
		expect((await get("/me", { cookie: "pe_session=" })).status).toBe(401);
		const user = await signUp();
		expect((await get("/me", { authorization: `Bearer ${user.token}` })).status).toBe(200);
		await call("POST", "/api/auth/logout/", { token: user.token });
		expect((await get("/me", { authorization: `Bearer ${user.token}` })).status).toBe(401);
	});
});

describe("AuthService.verifyAccessToken() through a service binding", () => {
	it("answers the claims of a token this Worker issued", async () => {
		const user = await signUp();
		const jwt = await tokenFor({ token: user.token });
		const response = await get("/claims", { authorization: `Bearer ${jwt}` });
		expect(response).toEqual({
			status: 200,
			body: { sub: user.id, email: user.email, amr: ["pwd"], acr: "aal1" },
		});
	});

	it("answers null for a tampered, a foreign-audience or an expired token, and for a session token", async () => {
		const user = await signUp();
		const jwt = await tokenFor({ token: user.token });
		const [header, payload, signature] = jwt.split(".") as [string, string, string];
		const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/")));
		const forged = btoa(JSON.stringify({ ...claims, sub: "someone-else" }))
			.replace(/\+/g, "-")
			.replace(/\//g, "_")
			.replace(/=+$/, "");
		expect((await get("/claims", { authorization: `Bearer ${header}.${forged}.${signature}` })).status).toBe(401);
		expect((await get("/claims", { authorization: `Bearer ${user.token}` })).status).toBe(401);
		expect((await get("/claims", { authorization: "Bearer a.b.c" })).status).toBe(401);

		// The test's clock moves the Worker under test's clock: past exp, the same token is refused.
		vi.spyOn(clock, "now").mockReturnValue((claims.exp + 1) * 1000);
		expect((await get("/claims", { authorization: `Bearer ${jwt}` })).status).toBe(401);
	});
});
