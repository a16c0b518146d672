import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { userSql } from "../helpers/account";
import { browserSignUp, call, logIn, PASSWORD, signUp } from "../helpers/api";

// A copy of the database must not sign anyone in: passwords are stored as
// salted PBKDF2 hashes and session tokens only as hashes.

interface UserRow {
	id: string;
	email: string;
	password_hash: string;
	password_salt: string;
	password_iterations: number;
}

async function userRow(id: string): Promise<UserRow> {
	// The password is in the user's object; the directory's legacy columns stay empty.
	const directory = await env.DB.prepare("SELECT password_hash FROM users WHERE id = ?")
		.bind(id)
		.first<{ password_hash: string }>();
	if (directory?.password_hash !== "") throw new Error(`the directory holds a password for ${id}`);
	const row = await userSql(id, "SELECT * FROM account").first<UserRow>();
	if (!row) throw new Error(`no user ${id}`);
	return row;
}

async function sessionRows(userId: string): Promise<Record<string, unknown>[]> {
	const { results } = await userSql(userId, "SELECT * FROM sessions").all();
	return results;
}

describe("secrets at rest", () => {
	it("stores no password in clear, only a salted hash with its iteration count", async () => {
		const user = await signUp();
		const row = await userRow(user.id);
		expect(JSON.stringify(row)).not.toContain(PASSWORD);
		expect(row.password_hash).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(row.password_salt).toMatch(/^[A-Za-z0-9_-]{22}$/);
		expect(row.password_iterations).toBe(100_000);
	});

	it("salts each user's password differently, so equal passwords get different hashes", async () => {
		const first = await userRow((await signUp()).id);
		const second = await userRow((await signUp()).id);
		expect(second.password_salt).not.toBe(first.password_salt);
		expect(second.password_hash).not.toBe(first.password_hash);
	});

	it("stores session tokens only as hashes", async () => {
		const user = await signUp();
		const login = await logIn(user.email);
		const browser = await browserSignUp();
		const tokens = [user.token, login.body.session_token, browser.cookie.replace("__Host-pe_session=", "")];

		const rows = [...(await sessionRows(user.id)), ...(await sessionRows(browser.id))];
		expect(rows).toHaveLength(3);
		const stored = JSON.stringify(rows);
		for (const token of tokens) {
			expect(token.length).toBeGreaterThanOrEqual(43);
			expect(stored).not.toContain(token);
		}
	});

	it("does not accept a stored session id as a token", async () => {
		const user = await signUp();
		const [row] = await sessionRows(user.id);
		const storedId = String(row?.id);
		expect((await call("GET", "/api/auth/session", { token: storedId })).status).toBe(401);
		expect((await call("GET", "/api/auth/session", { cookie: `__Host-pe_session=${storedId}` })).status).toBe(401);
	});
});
