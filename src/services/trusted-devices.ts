import { DAY } from "../lib/clock";
import { labelledMac, timingSafeEqual } from "../lib/crypto";
import { randomBytes, toBase64Url } from "../lib/encoding";
import type { KeySet } from "../lib/key-set";
import { readChallenge } from "../webauthn/canonical-challenge";

/**
 * "Don't ask again on this device" (TRUSTED_DEVICE_DAYS). After a second
 * factor in a browser, the user may have that browser remembered: it gets a
 * device cookie, and the next password sign-in there for the same user is
 * `full` at once. The cookie is never a first factor: it is read only after
 * the password was right, only for the user it names, and only by a browser
 * (an app's bearer client never gets or uses one).
 *
 *   value = "1" . user id . expires_at (ms) . epoch . nonce (16 bytes) . MAC
 *   MAC   = HMAC-SHA-256(K, "trusted-device:v1\n" ‖ everything before the MAC)
 *   K     = HMAC-SHA-256(a key of RECOVERY_CODE_HMAC_KEY, "passkey-edge:trusted-device-key")
 *
 * Nothing is stored per device: the MAC makes the cookie unforgeable, and the
 * user's `trusted_device_epoch` (the account row of their object) ends every
 * device at once: any change of the user's second factors, their password or
 * "sign out everywhere else" adds one to it in the same transaction as the
 * change itself. The key is
 * derived under its own label from a secret the Worker already has, so no
 * recovery-code hash or sign-in challenge MAC can stand for a device's; the
 * newest key of the set signs and every listed key verifies, so a rotation
 * keeps remembered browsers until the old key is dropped.
 */
export const TRUSTED_DEVICE_COOKIE = "__Host-pe_device";

const VERSION = "1";
const NONCE_BYTES = 16;
const MAC_BYTES = 32;
const encoder = new TextEncoder();
const MAC_LABEL = "trusted-device:v1\n";
const KEY_LABEL = "passkey-edge:trusted-device-key";
// A user id is base64url (randomId) and never contains a dot.
const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const DIGITS = /^(0|[1-9]\d{0,15})$/;

export interface TrustedDevice {
	userId: string;
	expiresAt: number;
	epoch: number;
}

async function macOf(secret: string, payload: string): Promise<Uint8Array> {
	return labelledMac(secret, KEY_LABEL, MAC_LABEL, encoder.encode(payload));
}

/** A new device cookie's value for the user at their current epoch, valid `days` from `now`. */
export async function issueTrustedDevice(
	keys: KeySet,
	user: { id: string; trustedDeviceEpoch: number },
	now: number,
	days: number,
): Promise<{ value: string; expiresAt: number }> {
	const expiresAt = now + days * DAY;
	const payload = [VERSION, user.id, expiresAt, user.trustedDeviceEpoch, toBase64Url(randomBytes(NONCE_BYTES))].join(
		".",
	);
	return { value: `${payload}.${toBase64Url(await macOf(keys.newest.secret, payload))}`, expiresAt };
}

/**
 * What a device cookie says, if this Worker wrote it under a listed key;
 * null for anything else (malformed, forged, tampered, an unlisted key). It
 * does not say whether the device is still trusted: see `isTrustedFor`.
 */
export async function openTrustedDevice(keys: KeySet, value: string): Promise<TrustedDevice | null> {
	if (value.length > 256) return null;
	const parts = value.split(".");
	if (parts.length !== 6) return null;
	const [version, userId, expiresAt, epoch, nonce, mac] = parts as [string, string, string, string, string, string];
	if (version !== VERSION || !USER_ID.test(userId) || !DIGITS.test(expiresAt) || !DIGITS.test(epoch)) return null;
	// One spelling each, as for challenges (canonical-challenge.ts): base64url's
	// spare bits would otherwise give the same MAC several cookie values.
	const nonceRead = readChallenge(nonce);
	if (!nonceRead?.isCanonical || nonceRead.bytes.length !== NONCE_BYTES) return null;
	const macRead = readChallenge(mac);
	if (!macRead?.isCanonical || macRead.bytes.length !== MAC_BYTES) return null;
	const presented = macRead.bytes;
	const payload = parts.slice(0, 5).join(".");
	// Every listed key is compared, in constant time, whichever matches.
	const expected = await Promise.all(keys.keys.map((key) => macOf(key.secret, payload)));
	if (!expected.map((each) => timingSafeEqual(each, presented)).includes(true)) return null;
	return { userId, expiresAt: Number(expiresAt), epoch: Number(epoch) };
}

/** Whether an opened device cookie lets this user skip the second factor now. */
export function isTrustedFor(
	device: TrustedDevice,
	user: { id: string; trustedDeviceEpoch: number },
	now: number,
): boolean {
	return device.userId === user.id && device.epoch === user.trustedDeviceEpoch && device.expiresAt > now;
}

/** A browser's device cookie, as a password sign-in presents it (routes/auth.ts). */
export interface PresentedDevice {
	value: string;
	keys: KeySet;
}

/**
 * What a password sign-in made of the device cookie it was given:
 * `trusted`: the session is full without a second factor; `stale`: the
 * cookie is this user's but no longer valid (or is not ours at all), and is
 * cleared; `other`: another user's, left alone (it may still be theirs to
 * use); `unused`: the user has no second factor, so nothing was asked.
 */
export type DeviceOutcome = "trusted" | "stale" | "other" | "unused";

export async function judgeDevice(
	presented: PresentedDevice,
	user: { id: string; trustedDeviceEpoch: number },
	now: number,
): Promise<Exclude<DeviceOutcome, "unused">> {
	const device = await openTrustedDevice(presented.keys, presented.value);
	if (!device) return "stale";
	if (device.userId !== user.id) return "other";
	return isTrustedFor(device, user, now) ? "trusted" : "stale";
}
