// Security events, one Analytics Engine data point each. Never put a secret,
// a code or an email into a point: blobs carry only the fixed labels below.
export const EVENTS = [
	"webauthn.registration.success",
	"webauthn.registration.failed",
	"webauthn.verify.success",
	"webauthn.verify.failed",
	"webauthn.login.success",
	"webauthn.login.failed",
	"totp.activate.success",
	"totp.verify.success",
	"totp.verify.failed",
	"recovery_code.verify.success",
	"recovery_code.verify.failed",
	"recovery_codes.generated",
	"authenticator.delete.success",
	"authenticator.delete.blocked",
	"auth.login.success",
	"auth.login.failed",
	"rate_limit.blocked",
	"token.issued",
	// The server API (routes/server-users.ts): a request with a missing or
	// wrong server key; `reason` is missing_key or wrong_key.
	"server_key.failed",
	// Webhook delivery of security events (services/webhook-delivery.ts);
	// `reason` is why an attempt failed (status_503, timeout, enqueue_failed).
	"webhook.delivered",
	"webhook.failed",
	"webhook.dead_lettered",
	// The user's activity log (services/security-events.ts): an entry that
	// could not be written to the user's object; `reason` is the entry's type.
	"activity.failed",
] as const;

export type MetricEvent = (typeof EVENTS)[number];
export type ClientKind = "browser" | "app";

/** token.issued: the token's `amr`, space-separated ("pwd hwk mfa"): labels, no secret. */
export type AmrLabel = `${"pwd" | "hwk" | "swk" | "otp"}${string}` | "";

export interface MetricPoint {
	event: MetricEvent;
	outcome: "success" | "failure" | "blocked";
	/** token.issued: the assurance level (aal1, aal2). */
	reason?: string;
	method?: "password" | "webauthn" | "totp" | "recovery_code" | AmrLabel;
	client: ClientKind;
	durationMs: number;
}

export interface Metrics {
	record(point: MetricPoint): void;
}

export interface RecordedPoint {
	indexes: string[];
	blobs: string[];
	doubles: number[];
}

// The local Analytics Engine drops every point, so tests switch on capture to
// see what would have been written. Production never switches it on.
let captured: RecordedPoint[] | null = null;

export function captureMetrics(): RecordedPoint[] {
	captured = [];
	return captured;
}

export function stopCapturingMetrics(): void {
	captured = null;
}

export function toDataPoint(point: MetricPoint): RecordedPoint {
	return {
		indexes: [point.event],
		blobs: [point.event, point.outcome, point.reason ?? "", point.method ?? "", point.client],
		doubles: [1, Math.max(0, Math.round(point.durationMs * 1000) / 1000)],
	};
}

export function createMetrics(dataset: AnalyticsEngineDataset | undefined): Metrics {
	return {
		record(point) {
			const dataPoint = toDataPoint(point);
			captured?.push(dataPoint);
			try {
				dataset?.writeDataPoint(dataPoint);
			} catch (error) {
				// Monitoring must never break a sign-in.
				console.error("metrics: writeDataPoint failed", error instanceof Error ? error.name : "unknown");
			}
		},
	};
}
