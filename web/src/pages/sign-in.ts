import { ApiError, api, type SecondFactorMethod, type SessionResult, type SessionView } from "../api";
import { byId, clearError, focusUnlessTaken, inside, setFlash, showError, whileBusy } from "../dom";
import { currentSession, finishSignIn, SETTINGS_PAGE } from "../session";
import { notePasswordSignIn } from "../upgrade";
import {
	browserSupportsWebAuthn,
	browserSupportsWebAuthnAutofill,
	cancelCeremony,
	signInWithPasskey,
	verifyWithPasskey,
} from "../webauthn";

// Passkey first, then the authenticator app, then a recovery code.
const METHOD_ORDER: SecondFactorMethod[] = ["webauthn", "totp", "recovery_codes"];
// A sign-in challenge lives 5 minutes on the server: the autofill request is
// renewed before that, so a passkey picked from the list much later still works.
const AUTOFILL_RENEW_MS = 4 * 60 * 1000;
const AUTOFILL_MAX_RESTARTS = 5;

export async function initSignIn(): Promise<void> {
	const passwordStep = byId("password-step", HTMLElement);
	const secondFactorStep = byId("second-factor-step", HTMLElement);
	const form = byId("sign-in-form", HTMLFormElement);
	const formError = inside(form, ".error", HTMLElement);
	const email = byId("email", HTMLInputElement);
	const password = byId("password", HTMLInputElement);
	const passkeyButton = byId("passkey-sign-in", HTMLButtonElement);
	const passkeyError = byId("passkey-error", HTMLElement);
	const rememberDevice = byId("remember-device", HTMLElement);
	const rememberInput = byId("remember-device-input", HTMLInputElement);
	// Sent only when the box is shown and ticked: the server offers it (trusted_device_days) only to browsers, when on.
	const remembering = () => !rememberDevice.hidden && rememberInput.checked;

	// Conditional mediation: the passkeys of this site appear in the email
	// field's autofill list; choosing one signs in without a password. One
	// autofill request at a time: each has its own controller, aborted when a
	// newer request (the button, a renewal, the second step) replaces it, so
	// that an old one still loading its options never starts a ceremony (which
	// would abort the newer one) nor shows an error.
	let autofill: AbortController | null = null;
	let renewTimer: ReturnType<typeof setTimeout> | undefined;
	function stopAutofill(): void {
		autofill?.abort();
		autofill = null;
		clearTimeout(renewTimer);
		cancelCeremony();
	}
	async function startAutofill(restarts = 0): Promise<void> {
		autofill?.abort();
		const run = new AbortController();
		autofill = run;
		clearTimeout(renewTimer);
		if (!(await browserSupportsWebAuthnAutofill()) || run.signal.aborted) return;
		renewTimer = setTimeout(() => {
			if (autofill === run) void startAutofill();
		}, AUTOFILL_RENEW_MS);
		try {
			const result = await signInWithPasskey(true, run.signal);
			if (run.signal.aborted) return;
			clearTimeout(renewTimer);
			await finishSignIn(result.session);
		} catch (error) {
			// A newer request replaced this one: its failure is nobody's concern.
			if (run.signal.aborted) return;
			showError(formError, error);
			if (error instanceof ApiError && error.status >= 400 && error.status < 500 && restarts < AUTOFILL_MAX_RESTARTS) {
				void startAutofill(restarts + 1);
			}
		}
	}

	function showPasswordStep(): void {
		secondFactorStep.hidden = true;
		passwordStep.hidden = false;
		document.title = "Sign in · passkey-edge";
		void startAutofill();
	}

	function showSecondFactor(session: SessionView): void {
		stopAutofill();
		passwordStep.hidden = true;
		secondFactorStep.hidden = false;
		document.title = "Two-factor authentication · passkey-edge";
		byId("second-factor-email", HTMLElement).textContent = session.user.email;
		const days = session.trusted_device_days;
		rememberDevice.hidden = days === undefined;
		rememberInput.checked = false;
		if (days !== undefined) {
			byId("remember-device-hint", HTMLElement).textContent =
				`For ${days === 1 ? "1 day" : `${days} days`}, your password alone will sign you in to this account in this browser. Changing your password or your second factors ends it.`;
		}
		const available = METHOD_ORDER.filter((method) => session.methods.includes(method));
		const usable = available.filter((method) => method !== "webauthn" || browserSupportsWebAuthn());
		const first = usable[0] ?? available[0];
		if (first) chooseMethod(first, usable);
		byId("second-factor-title", HTMLElement).focus();
	}

	function chooseMethod(method: SecondFactorMethod, usable: SecondFactorMethod[]): void {
		for (const each of METHOD_ORDER) {
			const panel = byId(`method-${each}`, HTMLElement);
			panel.hidden = each !== method;
			clearError(inside(panel, ".error", HTMLElement));
		}
		const others = byId("other-methods", HTMLElement);
		let anyOther = false;
		for (const button of others.querySelectorAll<HTMLButtonElement>("button[data-method]")) {
			const show = button.dataset.method !== method && usable.includes(button.dataset.method as SecondFactorMethod);
			const item = button.closest("li");
			if (item) item.hidden = !show;
			anyOther ||= show;
		}
		others.hidden = !anyOther;
		others.dataset.usable = usable.join(" ");
	}

	// The person can sign in before the page's own session check below has
	// answered (a slow network, a fast typist): that check must not then take
	// them back to the password step.
	let signingIn = false;

	form.addEventListener("submit", (event) => {
		event.preventDefault();
		signingIn = true;
		clearError(formError);
		clearError(passkeyError);
		const submit = inside(form, "button[type=submit]", HTMLButtonElement);
		void whileBusy(submit, "Signing in…", async () => {
			try {
				const { session } = await api<SessionResult>("POST", "/api/auth/login/", {
					email: email.value,
					password: password.value,
				});
				password.value = "";
				// The security page may then ask the password manager for a passkey (upgrade.ts).
				notePasswordSignIn();
				if (session.level === "partial") showSecondFactor(session);
				else await finishSignIn(session);
			} catch (error) {
				showError(formError, error);
			}
		});
	});

	passkeyButton.addEventListener("click", () => {
		clearError(formError);
		clearError(passkeyError);
		stopAutofill();
		void whileBusy(passkeyButton, "Waiting for your passkey…", async () => {
			try {
				const { session } = await signInWithPasskey(false);
				await finishSignIn(session);
			} catch (error) {
				showError(passkeyError, error);
				void startAutofill();
			}
		});
	});
	if (!browserSupportsWebAuthn()) passkeyButton.hidden = true;

	byId("other-methods", HTMLElement).addEventListener("click", (event) => {
		const button = (event.target as Element).closest("button[data-method]");
		if (!(button instanceof HTMLButtonElement)) return;
		const usable = (byId("other-methods", HTMLElement).dataset.usable ?? "").split(" ") as SecondFactorMethod[];
		chooseMethod(button.dataset.method as SecondFactorMethod, usable);
		const panel = byId(`method-${button.dataset.method}`, HTMLElement);
		(panel.querySelector("input") ?? panel.querySelector("button"))?.focus();
	});

	const passkeyPanel = byId("method-webauthn", HTMLElement);
	const usePasskey = byId("use-passkey", HTMLButtonElement);
	usePasskey.addEventListener("click", () => {
		const error = inside(passkeyPanel, ".error", HTMLElement);
		clearError(error);
		void whileBusy(usePasskey, "Waiting for your passkey…", async () => {
			try {
				const { session } = await verifyWithPasskey(remembering());
				await finishSignIn(session);
			} catch (failure) {
				await handleSecondFactorError(error, failure);
			}
		});
	});

	codeForm("method-totp", "/api/totp/verify/");
	codeForm("method-recovery_codes", "/api/recovery-codes/verify/");

	function codeForm(id: string, path: string): void {
		const codeForm = byId(id, HTMLFormElement);
		const input = inside(codeForm, "input", HTMLInputElement);
		const error = inside(codeForm, ".error", HTMLElement);
		codeForm.addEventListener("submit", (event) => {
			event.preventDefault();
			clearError(error);
			void whileBusy(inside(codeForm, "button[type=submit]", HTMLButtonElement), "Verifying…", async () => {
				try {
					const result = await api<SessionResult & { unused?: number }>("POST", path, {
						code: input.value,
						...(remembering() ? { remember_device: true } : {}),
					});
					if (typeof result.unused === "number") {
						setFlash(
							`You signed in with a recovery code. ${result.unused === 1 ? "1 code is" : `${result.unused} codes are`} left.`,
						);
					}
					await finishSignIn(result.session);
				} catch (failure) {
					input.select();
					await handleSecondFactorError(error, failure);
				}
			});
		});
	}

	// A partial session lasts 10 minutes: when it is gone, start again.
	async function handleSecondFactorError(region: HTMLElement, error: unknown): Promise<void> {
		if (error instanceof ApiError && error.status === 401) {
			showPasswordStep();
			showError(formError, error);
			return;
		}
		showError(region, error);
	}

	const switchAccount = byId("switch-account", HTMLButtonElement);
	switchAccount.addEventListener("click", () => {
		void whileBusy(switchAccount, "Signing out…", async () => {
			try {
				await api("POST", "/api/auth/logout/");
			} catch {
				// A partial session that already expired is just as signed out.
			}
			showPasswordStep();
			email.focus();
		});
	});

	let session: SessionView | null = null;
	try {
		session = await currentSession();
	} catch (error) {
		if (!signingIn) showError(formError, error);
	}
	if (signingIn) return;
	// Signed in, or signed in to set up a second factor: the security page is where either goes on.
	if (session?.level === "full" || session?.level === "setup_required") {
		location.replace(SETTINGS_PAGE);
		return;
	}
	if (session?.level === "partial") showSecondFactor(session);
	else {
		showPasswordStep();
		focusUnlessTaken(email);
	}
}
