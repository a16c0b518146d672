import type { AuthenticatorCounts } from "../account/authenticators";
import type { TotpRow } from "../account/schema";
import type { Env } from "../env";
import type { Config } from "../lib/config";
import type { ClientKind, Metrics } from "../lib/metrics";
import type { DeferredSession } from "../services/ceremony-session";
import type { AuthenticatedSession, UserPasskeys } from "../services/sessions";
import type { Db } from "../storage/db";

export interface Auth {
	session: AuthenticatedSession;
	/** How the request authenticated: a bearer token is an app, a cookie a browser. */
	client: ClientKind;
	/** The user's WebAuthn identity and passkeys, on routes that read them with the session. */
	userPasskeys?: UserPasskeys;
	/** The user's TOTP row (null: none), on routes that read it with the session. */
	totp?: TotpRow | null;
	/** The user's second factors, read with the session. */
	counts: AuthenticatorCounts;
}

export interface AppEnv {
	Bindings: Env;
	Variables: {
		requestId: string;
		startedAt: number;
		config: Config;
		db: Db;
		metrics: Metrics;
		auth: Auth;
		deferred: DeferredSession;
		/** The name of the server key a server API request authenticated with (routes/server-auth.ts). */
		serverKey: string;
	};
}
