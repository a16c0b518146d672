import { describe, expect, it } from "vitest";
import { call, PASSWORD, signUp, uniqueEmail } from "../helpers/api";
import { expectError } from "../helpers/expect-error";

describe("the JSON media type", () => {
	// RFC 9110: parameters are `OWS ";" OWS name=value`.
	const ACCEPTED = [
		"application/json ; charset=utf-8",
		"application/json\t;charset=utf-8",
		"Application/JSON ;  charset=UTF-8",
		"application/json;charset=utf-8",
		"application/json; charset=utf-8",
	];

	it("accepts whitespace before a parameter's semicolon, on sign-up and login", async () => {
		for (const contentType of ACCEPTED) {
			const email = uniqueEmail("media");
			const created = await call("POST", "/api/auth/signup/", {
				app: true,
				headers: { "content-type": contentType },
				body: { email, password: PASSWORD },
			});
			expect({ contentType, status: created.status }).toEqual({ contentType, status: 201 });
			const signedIn = await call("POST", "/api/auth/login/", {
				app: true,
				headers: { "content-type": contentType },
				body: { email, password: PASSWORD },
			});
			expect({ contentType, status: signedIn.status }).toEqual({ contentType, status: 200 });
		}
	});

	it("accepts it on a route behind the session checks (reauthentication)", async () => {
		const user = await signUp();
		const response = await call("POST", "/api/auth/reauthenticate/", {
			token: user.token,
			headers: { "content-type": "application/json ; charset=utf-8" },
			body: { password: PASSWORD },
		});
		expect(response.status).toBe(200);
	});

	it("still refuses what is not JSON with 415", async () => {
		for (const contentType of [
			"application/jsonx",
			"application/json ;",
			"text/json ; charset=utf-8",
			"application/json ; charset",
		]) {
			const refused = await call("POST", "/api/auth/signup/", {
				app: true,
				headers: { "content-type": contentType },
				body: { email: uniqueEmail(), password: PASSWORD },
			});
			expectError(refused, 415, "unsupported_media_type");
		}
	});
});

describe("an id that cannot exist", () => {
	const IMPOSSIBLE = ["x".repeat(65), "k".repeat(2000), "a.b", "has space", "%F0%9F%94%91", "%00", "..%2F..", "ab$cd"];

	it("answers PATCH /api/webauthn/<id>/ with 404 not_found, like an unknown id", async () => {
		const user = await signUp();
		expectError(
			await call("PATCH", "/api/webauthn/AAAAAAAAAAAAAAAAAAAAAA/", { token: user.token, body: { name: "Key" } }),
			404,
			"not_found",
		);
		for (const id of IMPOSSIBLE) {
			const response = await call("PATCH", `/api/webauthn/${id}/`, { token: user.token, body: { name: "Key" } });
			expect({ id, status: response.status }).toEqual({ id, status: 404 });
			expectError(response, 404, "not_found");
		}
	});

	it("answers DELETE /api/webauthn/<id>/ with 404 not_found, like an unknown id", async () => {
		const user = await signUp();
		for (const id of IMPOSSIBLE) {
			const response = await call("DELETE", `/api/webauthn/${id}/`, { token: user.token });
			expect({ id, status: response.status }).toEqual({ id, status: 404 });
			expectError(response, 404, "not_found");
		}
	});
});
