import { describe, expect, it } from "vitest";
import { call, signUp } from "../helpers/api";

describe("smoke", () => {
	it("answers health", async () => {
		const res = await call("GET", "/api/health/");
		expect(res.status).toBe(200);
		expect(res.body).toEqual({ success: true });
	});
	it("signs up", async () => {
		const user = await signUp();
		const res = await call("GET", "/api/auth/session", { token: user.token });
		expect(res.status).toBe(200);
	});
});
