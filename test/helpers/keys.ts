import { type KeySet, parseKeySet } from "../../src/lib/key-set";

/** A key set from a value in either format, as the Worker reads its secret; throws on a missing or short one. */
export function keySet(value: string | undefined, name = "TEST_KEY"): KeySet {
	const keys = parseKeySet(name, value);
	if (!keys) throw new Error(`${name} is missing or shorter than 16 characters`);
	return keys;
}
