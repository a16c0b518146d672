// How a session was authenticated: each method with its newest time, kept on
// the session row and turned into the `amr` and `acr` claims of an access
// token (RFC 8176 method values; NIST SP 800-63B assurance levels).

/** RFC 8176: a password, a hardware-bound or software (synced) key, a one-time code. */
export type AmrMethod = "pwd" | "hwk" | "swk" | "otp";

/** One use of a method; `uv`: the authenticator verified the user (PIN or biometric). */
export interface AmrUse {
	m: AmrMethod;
	uv?: true;
}

export interface AmrEntry extends AmrUse {
	/** Milliseconds since the epoch of the newest use. */
	at: number;
}

/** At most one entry per method: a session that reauthenticates a hundred times stays four entries long. */
export type AmrRecord = AmrEntry[];

export type AmrValue = AmrMethod | "user" | "mfa";
export type Acr = "aal1" | "aal2";

const METHODS: readonly AmrMethod[] = ["pwd", "hwk", "swk", "otp"];
// Something you know, something you have: `mfa` needs one of each.
const KNOWLEDGE: readonly AmrMethod[] = ["pwd"];

/**
 * A passkey is device-bound (`hwk`) unless it may be backed up and synced
 * (`swk`): WebAuthn's backup-eligible flag, fixed when it was registered.
 */
export function passkeyUse(backupEligible: boolean, userVerified: boolean): AmrUse {
	return { m: backupEligible ? "swk" : "hwk", ...(userVerified ? { uv: true as const } : {}) };
}

/** The record with one more use: a method already there keeps its place and takes the newer time. */
export function withUse(record: AmrRecord, use: AmrUse, at: number): AmrRecord {
	const entries = validEntries(record);
	const index = entries.findIndex((entry) => entry.m === use.m);
	if (index < 0) return [...entries, { ...use, at }];
	return entries.map((entry, i) => {
		if (i !== index) return entry;
		// Once the user was verified with this method, the session keeps that.
		return { m: entry.m, ...(entry.uv || use.uv ? { uv: true as const } : {}), at: Math.max(entry.at, at) };
	});
}

export function startRecord(use: AmrUse, at: number): AmrRecord {
	return [{ ...use, at }];
}

// A row written before the record existed holds `[]`; anything unexpected is dropped, never trusted.
function validEntries(record: unknown): AmrRecord {
	if (!Array.isArray(record)) return [];
	return record.filter(
		(entry): entry is AmrEntry =>
			typeof entry === "object" &&
			entry !== null &&
			METHODS.includes((entry as AmrEntry).m) &&
			typeof (entry as AmrEntry).at === "number",
	);
}

/**
 * The `amr` and `acr` claims: the methods in the order they were first used,
 * `user` after a passkey that verified the user, `mfa` when a knowledge
 * factor and a possession factor were both used. `aal2` needs two factors,
 * or a passkey with user verification (a multi-factor cryptographic
 * authenticator in SP 800-63B's terms); anything else is `aal1`.
 */
export function amrClaims(record: AmrRecord): { amr: AmrValue[]; acr: Acr } {
	const entries = validEntries(record);
	const amr: AmrValue[] = [];
	for (const entry of entries) {
		amr.push(entry.m);
		if (entry.uv && (entry.m === "hwk" || entry.m === "swk") && !amr.includes("user")) amr.push("user");
	}
	const knows = entries.some((entry) => KNOWLEDGE.includes(entry.m));
	const has = entries.some((entry) => !KNOWLEDGE.includes(entry.m));
	const mfa = knows && has;
	if (mfa) amr.push("mfa");
	const verifiedPasskey = entries.some((entry) => entry.uv && (entry.m === "hwk" || entry.m === "swk"));
	return { amr, acr: mfa || verifiedPasskey ? "aal2" : "aal1" };
}
