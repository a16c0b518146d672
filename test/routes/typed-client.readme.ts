import { hc } from "hono/client";
import type { AppType } from "passkey-edge";

/**
 * The typed-client snippet of README.md, verbatim between the markers (less
 * one tab of indentation), so that `npm run check` compiles it and
 * typed-client.test.ts runs it.
 */
export async function readmeSnippet(email: string, password: string): Promise<void> {
	// README:start
	const client = hc<AppType>("https://auth.example.com", { headers: { "X-Client": "app" } });
	const signup = await client.api.auth.signup.$post({ json: { email, password } });
	if (signup.status === 201) console.log((await signup.json()).session.level); // "full"
	// README:end
}
