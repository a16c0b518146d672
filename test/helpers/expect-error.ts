import { expect } from "vitest";
import { ERRORS, type ErrorCode } from "../../src/lib/errors";
import type { ApiResponse } from "./api";

/**
 * Asserts API.md's error envelope: the status, exactly `success`, `code`,
 * `message` (and `fields` when given), and our own sentence for the code, so
 * that no library message or stack trace can ride along.
 */
export function expectError(response: ApiResponse<unknown>, status: number, code: ErrorCode): void {
	expect({ status: response.status, body: response.body }).toMatchObject({ status, body: { code } });
	expect(response.headers.get("content-type")).toMatch(/^application\/json/);
	const body = response.body as Record<string, unknown>;
	const keys = Object.keys(body).sort();
	expect(keys).toEqual("fields" in body ? ["code", "fields", "message", "success"] : ["code", "message", "success"]);
	expect(body.success).toBe(false);
	expect(body.message).toBe(ERRORS[code][1]);
	if ("fields" in body) {
		expect(body.fields).toBeTypeOf("object");
		for (const problem of Object.values(body.fields as object)) expect(problem).toBeTypeOf("string");
	}
}
