import type { AttemptLimit } from "../durable/user-state";
import { MINUTE } from "../lib/clock";

/** 5 failed second-factor attempts per user within 15 minutes, all methods together. */
export const SECOND_FACTOR_LIMIT: AttemptLimit = { scope: "second_factor", limit: 5, windowMs: 15 * MINUTE };
/** 10 failed password logins per email within 15 minutes. */
export const PASSWORD_LIMIT: AttemptLimit = { scope: "password", limit: 10, windowMs: 15 * MINUTE };
