import type { AuthenticatorCounts } from "../account/authenticators";
import type { TotpRow } from "../account/schema";
import type { SessionRequirement } from "../account/session-gate";
import type { Env } from "../env";
import type { AuthenticatedSession, UserPasskeys } from "../services/sessions";
import type { Db } from "../storage/db";
import type { Config } from "./config";
import type { ClientKind, Metrics } from "./metrics";

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

/** A session whose checks run in the ceremony's own call of the user's object (lib/middleware.ts deferSession). */
export interface DeferredSession {
	token: string;
	tokenHash: string;
	userId: string;
	client: ClientKind;
	requirement: SessionRequirement;
	/** A cookie request from a foreign origin: refused (403) after the session is found live. */
	csrf: boolean;
	gate?: "webauthn";
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
