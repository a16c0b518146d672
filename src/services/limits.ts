import type { AttemptLimit } from "../durable/user-state";
import { MINUTE } from "../lib/clock";

/** 5 failed second-factor attempts per user within 15 minutes, all methods together. */
export const SECOND_FACTOR_LIMIT: AttemptLimit = { scope: "second_factor", limit: 5, windowMs: 15 * MINUTE };
/** 10 failed password logins per email within 15 minutes. */
export const PASSWORD_LIMIT: AttemptLimit = { scope: "password", limit: 10, windowMs: 15 * MINUTE };
/**
 * 30 failed password sign-ins per client address within 15 minutes, whatever
 * the emails: a password spray from one address gets 30 guesses per quarter
 * hour instead of 10 per email. Only failures count, three times the
 * per-email limit, so an office behind one NAT address is not locked out by
 * its people signing in, nor by a few of them mistyping.
 */
export const CLIENT_PASSWORD_LIMIT: AttemptLimit = { scope: "client_password", limit: 30, windowMs: 15 * MINUTE };
/**
 * 10 sign-ups per client address within an hour, counting every well-formed
 * attempt (one that creates an account and one answered `email_taken`): it
 * bounds both account farming and probing emails through `email_taken`.
 */
export const CLIENT_SIGNUP_LIMIT: AttemptLimit = { scope: "client_signup", limit: 10, windowMs: 60 * MINUTE };
/**
 * 20 requests with a missing or wrong server key per client address within
 * 15 minutes; then that address gets 429 on the server API, whatever key it
 * sends, until the window has passed. An app's backend that holds its key
 * never comes near it; a key guessed one request at a time would need far
 * more than forever anyway (32 characters at least), so what this stops is
 * the probing, and the metric shows it.
 */
export const SERVER_KEY_LIMIT: AttemptLimit = { scope: "server_key", limit: 20, windowMs: 15 * MINUTE };
