// How a receiver checks a passkey-edge security event (Standard Webhooks),
// with WebCrypto only: Node 20+, Deno, Bun, Workers. The README shows this
// function; test/routes/webhooks.test.ts verifies real deliveries with it.

/** Returns the event when the signature and timestamp hold; throws otherwise. `body` is the raw request text. */
export async function verifyWebhook(secret: string, headers: Headers, body: string, now = Date.now()) {
	const id = headers.get("webhook-id");
	const timestamp = headers.get("webhook-timestamp");
	const signatures = headers.get("webhook-signature") ?? "";
	if (!id || !timestamp || !(Math.abs(now / 1000 - Number(timestamp)) <= 300)) throw new Error("stale or unsigned");
	const bytes = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
	const key = await crypto.subtle.importKey(
		"raw",
		bytes(secret.replace(/^whsec_/, "")),
		{ name: "HMAC", hash: "SHA-256" },
		false,
		["verify"],
	);
	const signed = new TextEncoder().encode(`${id}.${timestamp}.${body}`);
	for (const signature of signatures.split(" ")) {
		const [version, mac] = signature.split(",");
		// subtle.verify compares in constant time.
		if (version === "v1" && mac && (await crypto.subtle.verify("HMAC", key, bytes(mac), signed)))
			return JSON.parse(body);
	}
	throw new Error("bad signature");
}
