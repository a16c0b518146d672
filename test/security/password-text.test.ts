import { describe, expect, it } from "vitest";
import { call, signUp, uniqueEmail } from "../helpers/api";
import { expectError } from "../helpers/expect-error";

// A password is text. A lone surrogate is not: encoded as UTF-8 for the
// hash, every one becomes U+FFFD, so "pass\uD800word" and "pass\uDC00word"
// (and "pass\uFFFDword") would be one password. They are refused with 400
// invalid_request, as names are, on every route that takes a password.

const WITH_FFFD = "correct horse \uFFFD battery";
const LONE_SURROGATES = ["correct horse \uD800 battery", "correct horse \uDC00 battery", "\uDBFFcorrect horse battery"];

describe("a password with an unpaired surrogate", () => {
	it("is refused at sign-up with 400 invalid_request, and no account is made", async () => {
		for (const password of LONE_SURROGATES) {
			const email = uniqueEmail("surrogate");
			const refused = await call("POST", "/api/auth/signup/", { app: true, body: { email, password } });
			expectError(refused, 400, "invalid_request");
			expect(refused.body).toMatchObject({ fields: { password: expect.any(String) } });
			// The email is still free.
			expect(
				(await call("POST", "/api/auth/signup/", { app: true, body: { email, password: WITH_FFFD } })).status,
			).toBe(201);
		}
	});

	it("cannot sign in to an account whose password has U+FFFD where it has a lone surrogate", async () => {
		const email = uniqueEmail("fffd");
		expect((await call("POST", "/api/auth/signup/", { app: true, body: { email, password: WITH_FFFD } })).status).toBe(
			201,
		);
		for (const password of LONE_SURROGATES.slice(0, 2)) {
			expectError(
				await call("POST", "/api/auth/login/", { app: true, body: { email, password } }),
				400,
				"invalid_request",
			);
		}
		expect((await call("POST", "/api/auth/login/", { app: true, body: { email, password: WITH_FFFD } })).status).toBe(
			200,
		);
	});

	it("is refused by reauthentication with 400 invalid_request", async () => {
		const user = await signUp();
		for (const password of LONE_SURROGATES) {
			expectError(
				await call("POST", "/api/auth/reauthenticate/", { token: user.token, body: { password } }),
				400,
				"invalid_request",
			);
		}
	});

	it("is told apart from a paired surrogate (an emoji is one character and fine)", async () => {
		const created = await call("POST", "/api/auth/signup/", {
			app: true,
			body: { email: uniqueEmail("emoji"), password: "🔑🔑🔑🔑🔑🔑🔑🔑" },
		});
		expect(created.status).toBe(201);
	});
});
