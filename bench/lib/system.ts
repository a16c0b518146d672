/** What the runner needs from a system under test. */

export const OPERATIONS = [
	"password_sign_in",
	"passkey_registration",
	"passkey_second_factor",
	"passwordless_sign_in",
	"totp_verify",
	"list_passkeys",
] as const;

export type Operation = (typeof OPERATIONS)[number];

export const OPERATION_LABELS: Record<Operation, string> = {
	password_sign_in: "password sign-in",
	passkey_registration: "passkey registration (options + complete)",
	passkey_second_factor: "passkey second factor (login → options → verify)",
	passwordless_sign_in: "passwordless passkey sign-in (options → login)",
	totp_verify: "TOTP second factor (login → verify)",
	list_passkeys: "list passkeys",
};

/**
 * The systems of a run: ours, Better Auth on Node ("peer", the name results
 * have used since the first run) and Better Auth as a Worker on D1.
 */
export const SYSTEMS = ["ours", "peer-worker", "peer"] as const;
export type SystemName = (typeof SYSTEMS)[number];
export type PeerName = Exclude<SystemName, "ours">;

export const SYSTEM_LABELS: Record<SystemName, string> = {
	ours: "ours",
	"peer-worker": "Better Auth Worker",
	peer: "Better Auth Node",
};

/** The ceremonies of the passkey comparison (password sign-in stays out: the hashes differ by design). */
export const PASSKEY_OPERATIONS: readonly Operation[] = [
	"passkey_registration",
	"passwordless_sign_in",
	"list_passkeys",
];

/** Records the client-side time of one HTTP step of a ceremony. */
export type StepRecorder = (step: string, ms: number) => void;

export interface SystemUnderTest<A> {
	readonly name: SystemName;
	readonly label: string;
	supports(operation: Operation): boolean;
	/** Creates `count` accounts set up for the operation, before any timing. */
	prepare(operation: Operation, count: number): Promise<void>;
	/** Untimed work before a cell: e.g. refreshing recent authentication. */
	beforeCell(operation: Operation): Promise<void>;
	/** An account nobody else is using, usable now; null when none is. */
	take(operation: Operation): A | null;
	release(operation: Operation, account: A): void;
	/** One complete ceremony; throws on any unexpected answer. */
	ceremony(operation: Operation, account: A, record: StepRecorder): Promise<void>;
	/** Untimed work after a cell: e.g. deleting the passkeys it registered. */
	afterCell(operation: Operation): Promise<void>;
}

/**
 * Accounts of one operation. A virtual user takes one for a ceremony and
 * gives it back, so two virtual users never act as the same person at once.
 */
export class AccountPool<A> {
	private readonly idle: A[] = [];
	readonly all: A[] = [];

	add(account: A): void {
		this.all.push(account);
		this.idle.push(account);
	}

	take(usable: (account: A) => boolean = () => true): A | null {
		const index = this.idle.findIndex(usable);
		if (index < 0) return null;
		const [account] = this.idle.splice(index, 1);
		return account ?? null;
	}

	release(account: A): void {
		this.idle.push(account);
	}

	get size(): number {
		return this.all.length;
	}
}

/** Runs `task` over `items` with at most `concurrency` at a time (for untimed preparation). */
export async function inParallel<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>) {
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const item = items[next++] as T;
			await task(item);
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

let counter = 0;
/** A unique email for this run. */
export function newEmail(prefix: string): string {
	counter += 1;
	return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}@bench.example`;
}

export const PASSWORD = "correct horse battery staple 42";
