import type { Context } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { userStateFor } from "../durable/stubs";
import type { AppEnv } from "../http/context";
import { cookieValues } from "../http/session-response";
import { clock, DAY } from "../lib/clock";
import { requireKeySet } from "../lib/config";
import type { KeySet } from "../lib/key-set";
import type { ClientKind } from "../lib/metrics";
import type { SessionView } from "../services/sessions";
import {
	type DeviceOutcome,
	issueTrustedDevice,
	type PresentedDevice,
	TRUSTED_DEVICE_COOKIE,
} from "../services/trusted-devices";

// The web half of trusted devices (services/trusted-devices.ts): which
// requests may offer, set or present a device cookie. Only a browser (a
// cookie client) and only while TRUSTED_DEVICE_DAYS is set; an app's bearer
// client never gets one and never has one read.

const COOKIE_OPTIONS = { httpOnly: true, secure: true, sameSite: "Lax", path: "/" } as const;

/** The device cookie a password sign-in presents, or undefined when none counts (off, an app, none or several). */
export function presentedDevice(c: Context<AppEnv>, client: ClientKind): PresentedDevice | undefined {
	if (c.var.config.trustedDeviceDays === null || client !== "browser") return undefined;
	const values = cookieValues(c.req.header("cookie"), TRUSTED_DEVICE_COOKIE);
	// Two cookies of one name: something else wrote one; neither is trusted.
	const [value] = values;
	if (values.length !== 1 || !value) return undefined;
	return { value, keys: requireKeySet(c.env, "RECOVERY_CODE_HMAC_KEY") };
}

/** A device cookie that is this user's but no longer valid, or not ours at all, is cleared. */
export function settleDevice(c: Context<AppEnv>, outcome: DeviceOutcome): void {
	if (outcome === "stale") deleteCookie(c, TRUSTED_DEVICE_COOKIE, COOKIE_OPTIONS);
}

/**
 * Whether a verify's `remember_device` is honoured: only for a browser and
 * only with TRUSTED_DEVICE_DAYS set; otherwise it is ignored (the session
 * answer's `trusted_device_days` tells a client when to offer it). Whether
 * the verify upgrades a partial session is known only after it passed.
 */
export function rememberWanted(c: Context<AppEnv>, requested: boolean | undefined): KeySet | null {
	const client = c.get("auth")?.client ?? c.get("deferred")?.client;
	if (requested !== true || c.var.config.trustedDeviceDays === null || client !== "browser") return null;
	// Read before the verify: a missing secret fails it before the session changes, not after.
	return requireKeySet(c.env, "RECOVERY_CODE_HMAC_KEY");
}

/**
 * After a verify that upgraded a partial session (a new token) with the box
 * ticked: the browser gets a device cookie for the user at their current
 * epoch. A verify on a full session (a reauthentication) remembers nothing:
 * the trust starts from a sign-in's second factor, and lasts the configured
 * days from it, never extended by using it.
 */
export async function rememberDevice(
	c: Context<AppEnv>,
	keys: KeySet | null,
	passed: { session: { userId: string }; token: string | null },
): Promise<void> {
	const days = c.var.config.trustedDeviceDays;
	if (!keys || passed.token === null || days === null) return;
	const epoch = await userStateFor(c.env.USER_STATE, passed.session.userId).trustedDeviceEpoch();
	if (epoch === null) return;
	const { value } = await issueTrustedDevice(
		keys,
		{ id: passed.session.userId, trustedDeviceEpoch: epoch },
		clock.now(),
		days,
	);
	setCookie(c, TRUSTED_DEVICE_COOKIE, value, { ...COOKIE_OPTIONS, maxAge: (days * DAY) / 1000 });
}

/** A partial browser session's answer says, while trusted devices are on, for how long a verify may remember it. */
export function withDeviceOffer<T extends SessionView>(
	c: Context<AppEnv>,
	client: ClientKind,
	view: T,
): T & { trusted_device_days?: number } {
	const days = c.var.config.trustedDeviceDays;
	if (days === null || client !== "browser" || view.level !== "partial") return view;
	return { ...view, trusted_device_days: days };
}
