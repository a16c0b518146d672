import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, logIn, PASSWORD, uniqueEmail } from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { callWithFaults, D1_OUTAGES, type FaultKind, FaultPlan } from "../helpers/faults";
import { countRows, countUserRows } from "../helpers/flows";

// A sign-up writes the user and its first session in one D1 transaction. A
// storage fault at any of its calls leaves no account behind (no user row
// without a session, whose email would be taken for good), so the client's
// retry of the same sign-up succeeds.

afterEach(() => {
	vi.restoreAllMocks();
});

const BASE = "http://localhost:8787";

/** The user's activity log entry (services/security-events.ts), written after the sign-up succeeded. */
const ACTIVITY_WRITE = "DO recordActivity";

function signUpRequest(email: string): Request {
	return new Request(`${BASE}/api/auth/signup/`, {
		method: "POST",
		headers: { "content-type": "application/json", "x-client": "app" },
		body: JSON.stringify({ email, password: PASSWORD }),
	});
}

describe("a sign-up cut off by a storage fault", () => {
	it("leaves no half-made account, and retrying it succeeds, whichever call fails", async () => {
		vi.spyOn(console, "error").mockImplementation(() => {});
		const plan = new FaultPlan();
		plan.reset(null);
		const dry = await callWithFaults(plan, signUpRequest(uniqueEmail("dry")));
		expect(dry.status).toBe(201);
		const calls = [...plan.calls];
		expect(calls.length).toBeGreaterThan(0);
		const kinds = Object.values(D1_OUTAGES);
		for (let n = 1; n <= calls.length; n++) {
			const email = uniqueEmail("cut-off");
			plan.reset(n, kinds[n % kinds.length] as FaultKind);
			const cut = await callWithFaults(plan, signUpRequest(email));
			const context = `call ${n} of ${calls.length} (${calls[n - 1]})`;
			if (calls[n - 1] === ACTIVITY_WRITE) {
				// Written after the sign-up, not part of it: the account stands, whole.
				expect({ context, status: cut.status }).toEqual({ context, status: 201 });
				expect((await logIn(email)).status).toBe(200);
				continue;
			}
			expectError(cut, 503, "unavailable");
			expect({ context, users: await countRows("SELECT COUNT(*) AS n FROM users WHERE email = ?", email) }).toEqual({
				context,
				users: 0,
			});
			const retried = await call("POST", "/api/auth/signup/", { app: true, body: { email, password: PASSWORD } });
			expect({ context, status: retried.status }).toEqual({ context, status: 201 });
			expect((await logIn(email)).status).toBe(200);
		}
	});

	it("whose write went through but whose answer was lost leaves a whole account that signs in", async () => {
		vi.spyOn(console, "error").mockImplementation(() => {});
		const plan = new FaultPlan();
		plan.reset(null);
		await callWithFaults(plan, signUpRequest(uniqueEmail("dry")));
		// The sign-up's own last call: the activity entry is written after it.
		const last = plan.calls.filter((label) => label !== ACTIVITY_WRITE).length;
		expect(plan.calls.slice(last)).toEqual([ACTIVITY_WRITE]);
		const email = uniqueEmail("lost-answer");
		plan.reset(last, D1_OUTAGES["network connection lost"]);
		plan.afterRunning = true;
		expectError(await callWithFaults(plan, signUpRequest(email)), 503, "unavailable");
		const signedIn = await logIn(email);
		expect(signedIn.status).toBe(200);
		const user = await env.DB.prepare("SELECT id FROM users WHERE email = ?").bind(email).first<{ id: string }>();
		expect(await countUserRows(user?.id ?? "", "SELECT COUNT(*) AS n FROM sessions")).toBe(2);
	});
});
