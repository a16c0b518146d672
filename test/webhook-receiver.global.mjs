// A webhook receiver for the tests: a real HTTP server on 127.0.0.1, started
// once for the run (vitest globalSetup). The queue consumer reaches it with
// the same plain fetch() it uses in production; nothing is routed or mocked.
// Tests give each case its own path, and the path says how to answer:
//   POST /hooks/<name>           records the delivery, answers 204
//   POST /hooks/<name>?fail=2    answers 503 to the first 2 attempts of each webhook-id
//   POST /hooks/<name>?fail=all  always answers 503
//   POST /hooks/<name>?hang=1    holds the answer until POST /release/<name>
//   GET  /received/<name>        what it received: [{ headers, body, status }] (status null while held)
import { createServer } from "node:http";

/** @param {import("vitest/node").TestProject} project */
export default async function startWebhookReceiver(project) {
	/** @type {Map<string, { headers: Record<string, string>, body: string, status: number | null }[]>} */
	const received = new Map();
	/** @type {Map<string, (() => void)[]>} */
	const held = new Map();

	const server = createServer((request, response) => {
		const url = new URL(request.url ?? "/", "http://receiver");
		const [, kind, name = ""] = url.pathname.split("/");
		const chunks = [];
		request.on("data", (chunk) => chunks.push(chunk));
		request.on("end", () => {
			if (request.method === "GET" && kind === "received") {
				response.writeHead(200, { "content-type": "application/json" });
				response.end(JSON.stringify(received.get(name) ?? []));
				return;
			}
			if (request.method === "POST" && kind === "release") {
				for (const release of held.get(name) ?? []) release();
				held.delete(name);
				response.writeHead(204).end();
				return;
			}
			if (request.method !== "POST" || kind !== "hooks") {
				response.writeHead(404).end();
				return;
			}
			const headers = /** @type {Record<string, string>} */ ({});
			for (const [key, value] of Object.entries(request.headers)) headers[key] = String(value);
			const deliveries = received.get(name) ?? [];
			received.set(name, deliveries);
			const delivery = {
				headers,
				body: Buffer.concat(chunks).toString("utf8"),
				status: /** @type {number | null} */ (null),
			};
			deliveries.push(delivery);
			const attempt = deliveries.filter((d) => d.headers["webhook-id"] === headers["webhook-id"]).length;
			const fail = url.searchParams.get("fail");
			const status = fail === "all" || (fail !== null && attempt <= Number(fail)) ? 503 : 204;
			const answer = () => {
				delivery.status = status;
				response.writeHead(status).end();
			};
			if (url.searchParams.get("hang")) held.set(name, [...(held.get(name) ?? []), answer]);
			else answer();
		});
	});
	await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
	const address = server.address();
	if (address === null || typeof address === "string") throw new Error("the webhook receiver has no port");
	project.provide("webhookReceiver", `http://127.0.0.1:${address.port}`);
	return () => new Promise((resolve) => server.close(() => resolve(undefined)));
}
