import { hc } from "hono/client";
import type { AppType } from "passkey-edge";

/**
 * Signs up as an app, then reads the session and the passkeys. Every path,
 * body and answer is typed from the Worker's own route definitions.
 */
export async function signUpAndLook(
	baseUrl: string,
	account: { email: string; password: string },
	fetch?: typeof globalThis.fetch,
) {
	const client = hc<AppType>(baseUrl, { fetch, headers: { "X-Client": "app" } });

	const signup = await client.api.auth.signup.$post({ json: account });
	if (signup.status !== 201) {
		const error = await signup.json(); // the error envelope: { success: false, code, message }
		throw new Error(`sign-up refused: ${error.code}`);
	}
	const { user, session_token } = await signup.json();
	if (!session_token) throw new Error("no token: was X-Client: app sent?");
	const signedIn = { headers: { Authorization: `Bearer ${session_token}` } };

	const current = await client.api.auth.session.$get({}, signedIn);
	if (current.status !== 200) throw new Error(`no session: ${(await current.json()).code}`);
	const { session } = await current.json(); // session.level: "partial" | "full"

	const list = await client.api.webauthn.$get({}, signedIn);
	if (list.status !== 200) throw new Error(`cannot list passkeys: ${(await list.json()).code}`);
	const { passkeys } = await list.json();

	return { userId: user.id, level: session.level, methods: session.methods, passkeys: passkeys.map((p) => p.name) };
}
