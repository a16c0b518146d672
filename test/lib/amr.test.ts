import { describe, expect, it } from "vitest";
import { amrClaims, passkeyUse, startRecord, withUse } from "../../src/lib/amr";

// The session's record of how it was authenticated, and the claims made of it.

describe("the amr record", () => {
	it("keeps one entry per method, with its newest time, however often it is used", () => {
		let record = startRecord({ m: "pwd" }, 1000);
		for (let at = 2000; at < 200_000; at += 1000) record = withUse(record, { m: "pwd" }, at);
		record = withUse(record, { m: "otp" }, 5000);
		record = withUse(record, { m: "pwd" }, 500);
		expect(record).toEqual([
			{ m: "pwd", at: 199_000 },
			{ m: "otp", at: 5000 },
		]);
	});

	it("keeps user verification once a passkey had it", () => {
		let record = startRecord(passkeyUse(false, true), 1);
		record = withUse(record, passkeyUse(false, false), 2);
		expect(record).toEqual([{ m: "hwk", uv: true, at: 2 }]);
	});

	it("drops entries it does not know rather than trusting them", () => {
		const stored = [{ m: "pwd", at: 1 }, { m: "face", at: 2 }, { m: "otp" }, null] as never;
		expect(amrClaims(stored)).toEqual({ amr: ["pwd"], acr: "aal1" });
		expect(amrClaims("[]" as never)).toEqual({ amr: [], acr: "aal1" });
	});
});

describe("amr and acr claims", () => {
	const cases: [string, Parameters<typeof startRecord>[0][], string[], string][] = [
		["a password", [{ m: "pwd" }], ["pwd"], "aal1"],
		["a passkey without user verification", [passkeyUse(true, false)], ["swk"], "aal1"],
		["a synced passkey with user verification", [passkeyUse(true, true)], ["swk", "user"], "aal2"],
		["a device-bound passkey with user verification", [passkeyUse(false, true)], ["hwk", "user"], "aal2"],
		["a password and TOTP", [{ m: "pwd" }, { m: "otp" }], ["pwd", "otp", "mfa"], "aal2"],
		["a password and a passkey", [{ m: "pwd" }, passkeyUse(false, false)], ["pwd", "hwk", "mfa"], "aal2"],
		["a passkey and TOTP (two possession factors)", [passkeyUse(true, false), { m: "otp" }], ["swk", "otp"], "aal1"],
		["nothing recorded (a session from before the record)", [], [], "aal1"],
	];
	for (const [name, uses, amr, acr] of cases) {
		it(`${name}: ${amr.join(" ") || "no amr"}, ${acr}`, () => {
			const record = uses.reduce((r, use, i) => withUse(r, use, i), [] as ReturnType<typeof startRecord>);
			expect(amrClaims(record)).toEqual({ amr, acr });
		});
	}
});
