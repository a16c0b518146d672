// Settings → Security → Two-Factor Authentication: passkeys, the
// authenticator app and recovery codes.
import {
	ApiError,
	api,
	onReauthenticationRequired,
	type Passkey,
	type PasskeyList,
	type SessionEntry,
	type SessionList,
	type SessionResult,
	type SessionView,
} from "../api";
import { byId, clearError, h, inside, showError, takeFlash, whileBusy } from "../dom";
import { SIGN_IN_PAGE } from "../session";
import { refreshTimes, timeElement } from "../time";
import { forgetPasswordSignIn, offerPasskeyUpgrade } from "../upgrade";
import {
	browserSupportsWebAuthn,
	cancelCeremony,
	registerPasskey,
	signalAcceptedCredentials,
	verifyWithPasskey,
} from "../webauthn";
import { loadActivity } from "./activity";

interface TotpStatus {
	enabled: boolean;
	created_at?: string;
	last_used_at?: string;
}

interface RecoveryStatus {
	total: number;
	unused: number;
	created_at: string;
}

const MAX_NAME_LENGTH = 64;

const state: {
	session: SessionView | null;
	passkeys: PasskeyList | null;
	totp: TotpStatus | null;
	recovery: RecoveryStatus | null;
	sessions: SessionEntry[] | null;
} = { session: null, passkeys: null, totp: null, recovery: null, sessions: null };

let leaving = false;

function leaveForSignIn(): void {
	if (!leaving) location.replace(SIGN_IN_PAGE);
	leaving = true;
}

/**
 * A session that ended (or never finished two-factor) goes back to sign-in.
 * Once: the page's loads run together and each finds the session gone, and
 * a second navigation would cancel the first one under way.
 */
function leaveIfSignedOut(error: unknown): boolean {
	if (error instanceof ApiError && (error.code === "not_authenticated" || error.code === "mfa_required")) {
		leaveForSignIn();
		return true;
	}
	return false;
}

function report(region: HTMLElement, error: unknown): void {
	// A session that must set up a second factor reaches none of the lists: set-up mode says why, once.
	if (error instanceof ApiError && error.code === "second_factor_required") return;
	if (!leaveIfSignedOut(error)) showError(region, error);
}

/** The operator requires a second factor and this account has none yet (REQUIRE_SECOND_FACTOR). */
function inSetupMode(): boolean {
	return state.session?.level === "setup_required";
}

function notify(message: string): void {
	const flash = byId("flash", HTMLElement);
	flash.textContent = message;
	flash.hidden = false;
}

/** A new action starts: the last one's confirmation no longer applies. */
function clearNotice(): void {
	const flash = byId("flash", HTMLElement);
	flash.textContent = "";
	flash.hidden = true;
}

// ---------------------------------------------------------------- loading

async function loadSession(): Promise<void> {
	const { session } = await api<SessionResult>("GET", "/api/auth/session/");
	if (session.level === "partial") {
		leaveForSignIn();
		return;
	}
	state.session = session;
	byId("account-email", HTMLElement).textContent = session.user.email;
}

async function loadPasskeys(): Promise<void> {
	const region = byId("passkeys-error", HTMLElement);
	try {
		state.passkeys = await api<PasskeyList>("GET", "/api/webauthn/");
		clearError(region);
	} catch (error) {
		report(region, error);
	}
	renderPasskeys();
}

async function loadTotp(): Promise<void> {
	const region = byId("totp-error", HTMLElement);
	try {
		state.totp = await api<TotpStatus & { success: true }>("GET", "/api/totp/");
		clearError(region);
	} catch (error) {
		report(region, error);
	}
	renderTotp();
}

async function loadRecovery(): Promise<void> {
	const region = byId("recovery-error", HTMLElement);
	try {
		state.recovery = await api<RecoveryStatus & { success: true }>("GET", "/api/recovery-codes/");
		clearError(region);
	} catch (error) {
		// No second factor yet means no recovery codes yet.
		if (error instanceof ApiError && error.code === "not_found") state.recovery = null;
		else report(region, error);
	}
	renderRecovery();
}

async function loadSessions(): Promise<void> {
	const region = byId("sessions-error", HTMLElement);
	try {
		state.sessions = (await api<SessionList>("GET", "/api/auth/sessions/")).sessions;
		clearError(region);
	} catch (error) {
		report(region, error);
	}
	renderSessions();
}

async function loadAll(): Promise<void> {
	await Promise.all([
		loadSession().catch((error: unknown) => report(byId("page-error", HTMLElement), error)),
		loadPasskeys(),
		loadTotp(),
		loadRecovery(),
		loadSessions(),
		loadActivity(),
	]);
	renderMode();
	renderStatus();
}

/**
 * Set-up mode: a session that can only add a second factor sees the page
 * reduced to that: an explanation, "Add passkey" and the authenticator app,
 * nothing else (the other sections' routes would refuse it). Adding either
 * makes the session full under a new cookie; the next load leaves the mode.
 */
function renderMode(): void {
	const setup = inSetupMode();
	document.body.classList.toggle("setup-mode", setup);
	byId("setup-required", HTMLElement).hidden = !setup;
	if (!setup) return;
	// Nothing to list yet: the lists' routes answered 403 second_factor_required.
	state.passkeys = { success: true, passkeys: [] };
	state.totp = { enabled: false };
	state.recovery = null;
	renderPasskeys();
	renderTotp();
	document.title = "Set up a second factor · passkey-edge";
}

/** After the list of passkeys changed: tell the browser's passkey manager. */
async function signalPasskeys(): Promise<void> {
	if (state.passkeys && state.session) await signalAcceptedCredentials(state.passkeys, state.session.user.email);
}

// ---------------------------------------------------------------- rendering

function renderStatus(): void {
	const pill = byId("two-factor-status", HTMLElement);
	const on = (state.passkeys?.passkeys.length ?? 0) > 0 || state.totp?.enabled === true;
	pill.textContent = on ? "On" : "Off";
	pill.className = `status-pill ${on ? "on" : "off"}`;
	pill.hidden = false;
}

function syncBadge(passkey: Passkey): HTMLElement {
	if (passkey.backed_up) {
		return h(
			"span",
			{ class: "badge synced", title: "Backed up by your passkey provider and available on your other devices" },
			"Synced",
		);
	}
	if (passkey.device_type === "single_device") {
		return h(
			"span",
			{ class: "badge device", title: "Stays on this one authenticator; it cannot be synced" },
			"This device",
		);
	}
	return h("span", { class: "badge device", title: "Can be synced, but is not backed up yet" }, "Not synced yet");
}

function passkeyItem(passkey: Passkey): HTMLLIElement {
	const name = h("p", { class: "item-title" }, passkey.name);
	const used = passkey.last_used_at
		? h("span", {}, "Last used ", timeElement(passkey.last_used_at))
		: h("span", {}, "Never used");
	const rename = h(
		"button",
		{ type: "button", class: "button ghost small", "aria-label": `Rename ${passkey.name}` },
		"Rename",
	);
	const remove = h(
		"button",
		{ type: "button", class: "button danger-ghost small", "aria-label": `Delete ${passkey.name}` },
		"Delete",
	);
	const titleRow = h("div", { class: "item-title-row" }, name, syncBadge(passkey));
	const item = h(
		"li",
		{ class: "item", "data-passkey-id": passkey.id },
		h("span", { class: "item-icon icon-passkey", "aria-hidden": "true" }),
		h(
			"div",
			{ class: "item-body" },
			titleRow,
			h("p", { class: "item-meta" }, passkey.authenticator ?? "Unknown authenticator"),
			h("p", { class: "item-meta" }, h("span", {}, "Added ", timeElement(passkey.created_at)), " · ", used),
		),
		h("div", { class: "item-actions" }, rename, remove),
	);
	rename.addEventListener("click", () => startRename(passkey, item, titleRow));
	remove.addEventListener("click", () => void confirmDeletePasskey(passkey));
	return item;
}

function renderPasskeys(): void {
	const list = byId("passkey-list", HTMLUListElement);
	const passkeys = state.passkeys?.passkeys ?? [];
	list.replaceChildren(...passkeys.map(passkeyItem));
	byId("passkeys-empty", HTMLElement).hidden = passkeys.length > 0 || state.passkeys === null;
}

function renderTotp(): void {
	const summary = byId("totp-summary", HTMLElement);
	const setUp = byId("totp-set-up", HTMLButtonElement);
	const remove = byId("totp-remove", HTMLButtonElement);
	const totp = state.totp;
	summary.replaceChildren();
	if (totp?.enabled) {
		summary.append(h("span", { class: "state on" }, "On"));
		if (totp.created_at) summary.append(" · Added ", timeElement(totp.created_at));
		summary.append(
			" · ",
			totp.last_used_at ? h("span", {}, "Last used ", timeElement(totp.last_used_at)) : "Never used",
		);
	} else {
		summary.append("Use codes from an app such as Google Authenticator, Microsoft Authenticator or 1Password.");
	}
	remove.hidden = !totp?.enabled;
	setUp.hidden = totp === null || totp.enabled || !byId("totp-setup", HTMLFormElement).hidden;
}

function renderRecovery(): void {
	const summary = byId("recovery-summary", HTMLElement);
	const regenerate = byId("recovery-regenerate", HTMLButtonElement);
	const recovery = state.recovery;
	summary.replaceChildren();
	if (recovery) {
		const low = recovery.unused <= 3;
		summary.append(
			h("span", { class: low ? "state warn" : "state" }, `${recovery.unused} of ${recovery.total} codes left`),
			" · Created ",
			timeElement(recovery.created_at),
		);
	} else {
		summary.append("You get recovery codes when you add your first passkey or authenticator app.");
	}
	regenerate.hidden = recovery === null;
}

// ---------------------------------------------------------------- dialogs

function closeOnCancel(dialog: HTMLDialogElement, signal: AbortSignal, onCancel: () => void): void {
	for (const button of dialog.querySelectorAll("[data-close]")) {
		button.addEventListener("click", onCancel, { signal });
	}
	// Escape closes a modal dialog: treat it as Cancel.
	dialog.addEventListener(
		"cancel",
		(event) => {
			event.preventDefault();
			onCancel();
		},
		{ signal },
	);
}

/**
 * The API refused a sensitive action because the last authentication is
 * older than 5 minutes: ask for the password or a passkey, then let the action
 * go on. Giving up rejects with the API's own error.
 */
function reauthenticate(refusal: ApiError): Promise<void> {
	// A set-up session cannot reauthenticate (its only routes are the set-up
	// ones): the password sign-in was too long ago, so sign in again.
	if (inSetupMode()) return startSetupOver(refusal);
	const dialog = byId("reauth-dialog", HTMLDialogElement);
	const form = inside(dialog, "form", HTMLFormElement);
	const password = byId("reauth-password", HTMLInputElement);
	const error = inside(dialog, ".error", HTMLElement);
	const submit = inside(form, "button[type=submit]", HTMLButtonElement);
	const passkeyButton = inside(dialog, "button[data-passkey]", HTMLButtonElement);
	const canUsePasskey = state.session?.methods.includes("webauthn") === true && browserSupportsWebAuthn();
	inside(dialog, ".reauth-passkey", HTMLElement).hidden = !canUsePasskey;
	password.value = "";
	byId("reauth-username", HTMLInputElement).value = state.session?.user.email ?? "";
	clearError(error);

	return new Promise((resolve, reject) => {
		const listeners = new AbortController();
		const finish = (outcome: () => void) => {
			listeners.abort();
			dialog.close();
			outcome();
		};
		closeOnCancel(dialog, listeners.signal, () => {
			cancelCeremony();
			finish(() => reject(refusal));
		});
		form.addEventListener(
			"submit",
			(event) => {
				event.preventDefault();
				clearError(error);
				if (!password.value) {
					showError(error, new ApiError(400, "invalid_request", "Enter your password."));
					password.focus();
					return;
				}
				void whileBusy(submit, "Confirming…", async () => {
					try {
						await api("POST", "/api/auth/reauthenticate/", { password: password.value }, { reauthenticate: false });
						finish(resolve);
					} catch (failure) {
						showError(error, failure);
						password.select();
					}
				});
			},
			{ signal: listeners.signal },
		);
		passkeyButton.addEventListener(
			"click",
			() => {
				clearError(error);
				void whileBusy(passkeyButton, "Waiting for your passkey…", async () => {
					try {
						await verifyWithPasskey();
						finish(resolve);
					} catch (failure) {
						showError(error, failure);
					}
				});
			},
			{ signal: listeners.signal },
		);
		dialog.showModal();
		password.focus();
	});
}

interface Confirmation {
	title: string;
	text: string;
	confirmLabel: string;
	busyLabel: string;
	action: () => Promise<void>;
}

/** Asks, then runs the action; its error (such as last_authenticator) is shown in the dialog. */
function confirmAction(confirmation: Confirmation): Promise<boolean> {
	const dialog = byId("confirm-dialog", HTMLDialogElement);
	const form = inside(dialog, "form", HTMLFormElement);
	const error = inside(dialog, ".error", HTMLElement);
	const confirm = inside(form, "button[type=submit]", HTMLButtonElement);
	const cancel = inside(form, "button[data-close]", HTMLButtonElement);
	byId("confirm-title", HTMLElement).textContent = confirmation.title;
	byId("confirm-text", HTMLElement).textContent = confirmation.text;
	confirm.textContent = confirmation.confirmLabel;
	confirm.hidden = false;
	cancel.textContent = "Cancel";
	clearError(error);

	return new Promise((resolve) => {
		const listeners = new AbortController();
		const finish = (done: boolean) => {
			listeners.abort();
			dialog.close();
			resolve(done);
		};
		closeOnCancel(dialog, listeners.signal, () => finish(false));
		form.addEventListener(
			"submit",
			(event) => {
				event.preventDefault();
				clearError(error);
				void whileBusy(confirm, confirmation.busyLabel, async () => {
					try {
						await confirmation.action();
						finish(true);
					} catch (failure) {
						if (leaveIfSignedOut(failure)) return;
						showError(error, failure);
						// A rule that forbids the action will forbid it again: only Close is left.
						if (failure instanceof ApiError && failure.code === "last_authenticator") {
							confirm.hidden = true;
							cancel.textContent = "Close";
							cancel.focus();
						}
					}
				});
			},
			{ signal: listeners.signal },
		);
		dialog.showModal();
		cancel.focus();
	});
}

/** Ends the set-up session (it can no longer add a factor) and goes back to sign-in to start over. */
async function startSetupOver(refusal: ApiError): Promise<never> {
	try {
		await api("POST", "/api/auth/logout/", undefined, { reauthenticate: false });
	} catch {
		// Already ended: just as signed out.
	}
	leaveForSignIn();
	throw refusal;
}

// ---------------------------------------------------------------- passkeys

function addPasskey(): void {
	clearNotice();
	const dialog = byId("add-passkey-dialog", HTMLDialogElement);
	const form = inside(dialog, "form", HTMLFormElement);
	const name = byId("passkey-name", HTMLInputElement);
	const error = inside(dialog, ".error", HTMLElement);
	const submit = inside(form, "button[type=submit]", HTMLButtonElement);
	name.value = "";
	clearError(error);
	const listeners = new AbortController();
	const close = () => {
		listeners.abort();
		dialog.close();
	};
	closeOnCancel(dialog, listeners.signal, () => {
		// Closing the dialog also stops a passkey prompt that is still open.
		cancelCeremony();
		close();
	});
	form.addEventListener(
		"submit",
		(event) => {
			event.preventDefault();
			clearError(error);
			// Checked before the ceremony, so a refused name never leaves an
			// unregistered passkey behind on the authenticator.
			if ([...name.value.trim()].length > MAX_NAME_LENGTH) {
				showError(error, new ApiError(400, "invalid_request", `Use at most ${MAX_NAME_LENGTH} characters.`));
				name.focus();
				return;
			}
			void whileBusy(submit, "Waiting for your passkey…", async () => {
				try {
					const registered = await registerPasskey(name.value);
					close();
					await loadAll();
					void signalPasskeys();
					notify(`Passkey “${registered.passkey.name}” added.`);
					if (registered.recovery_codes) showRecoveryCodes(registered.recovery_codes);
					else focusPasskey(registered.passkey.id, "button");
				} catch (failure) {
					if (!leaveIfSignedOut(failure)) showError(error, failure);
				}
			});
		},
		{ signal: listeners.signal },
	);
	dialog.showModal();
	name.focus();
}

function focusPasskey(id: string, selector: string): void {
	const item = byId("passkey-list", HTMLUListElement).querySelector(`li[data-passkey-id="${CSS.escape(id)}"]`);
	item?.querySelector<HTMLElement>(selector)?.focus();
}

function startRename(passkey: Passkey, item: HTMLLIElement, titleRow: HTMLElement): void {
	clearNotice();
	const region = byId("passkeys-error", HTMLElement);
	clearError(region);
	const inputId = `rename-${passkey.id}`;
	const input = h("input", { id: inputId, name: "name", autocomplete: "off", required: "" });
	input.value = passkey.name;
	const save = h("button", { type: "submit", class: "button primary small" }, "Save");
	const cancel = h("button", { type: "button", class: "button ghost small" }, "Cancel");
	const form = h(
		"form",
		{ class: "rename-form" },
		h("label", { for: inputId, class: "visually-hidden" }, `New name for ${passkey.name}`),
		input,
		h("div", { class: "actions" }, save, cancel),
	);
	const actions = inside(item, ".item-actions", HTMLElement);
	titleRow.replaceWith(form);
	actions.hidden = true;

	const stop = () => {
		renderPasskeys();
		focusPasskey(passkey.id, "button");
	};
	cancel.addEventListener("click", stop);
	input.addEventListener("keydown", (event) => {
		if (event.key === "Escape") {
			event.preventDefault();
			stop();
		}
	});
	form.addEventListener("submit", (event) => {
		event.preventDefault();
		clearError(region);
		void whileBusy(save, "Saving…", async () => {
			try {
				const { passkey: renamed } = await api<{ passkey: Passkey }>(
					"PATCH",
					`/api/webauthn/${encodeURIComponent(passkey.id)}/`,
					{ name: input.value },
				);
				if (state.passkeys) {
					state.passkeys.passkeys = state.passkeys.passkeys.map((each) => (each.id === renamed.id ? renamed : each));
				}
				stop();
				void signalPasskeys();
				void loadActivity();
				notify(`Passkey renamed to “${renamed.name}”.`);
			} catch (failure) {
				report(region, failure);
				input.focus();
			}
		});
	});
	input.focus();
	input.select();
}

async function confirmDeletePasskey(passkey: Passkey): Promise<void> {
	clearNotice();
	clearError(byId("passkeys-error", HTMLElement));
	const deleted = await confirmAction({
		title: `Delete “${passkey.name}”?`,
		text: "You will no longer be able to sign in with this passkey. Remove it from the device or password manager too.",
		confirmLabel: "Delete passkey",
		busyLabel: "Deleting…",
		action: async () => {
			await api("DELETE", `/api/webauthn/${encodeURIComponent(passkey.id)}/`);
		},
	});
	if (!deleted) {
		focusPasskey(passkey.id, "button[aria-label^=Delete]");
		return;
	}
	await loadAll();
	void signalPasskeys();
	notify(`Passkey “${passkey.name}” deleted.`);
	byId("add-passkey", HTMLButtonElement).focus();
}

// ---------------------------------------------------------------- authenticator app

function groupSecret(secret: string): string {
	return secret.replace(/(.{4})(?=.)/g, "$1 ");
}

async function startTotpSetup(button: HTMLButtonElement): Promise<void> {
	clearNotice();
	const region = byId("totp-error", HTMLElement);
	clearError(region);
	await whileBusy(button, "Starting…", async () => {
		try {
			const setup = await api<{ secret: string; otpauth_uri: string; qr_svg: string }>("POST", "/api/totp/setup/");
			// The SVG is shown as an image (a data: URL), never parsed into the page.
			byId("totp-qr", HTMLImageElement).src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(setup.qr_svg)}`;
			const secret = byId("totp-secret", HTMLElement);
			secret.textContent = groupSecret(setup.secret);
			secret.dataset.secret = setup.secret;
			const panel = byId("totp-setup", HTMLFormElement);
			panel.hidden = false;
			clearError(byId("totp-setup-error", HTMLElement));
			button.hidden = true;
			const code = byId("totp-activate-code", HTMLInputElement);
			code.value = "";
			code.focus();
		} catch (error) {
			report(region, error);
		}
	});
}

function closeTotpSetup(): void {
	const panel = byId("totp-setup", HTMLFormElement);
	panel.hidden = true;
	byId("totp-qr", HTMLImageElement).removeAttribute("src");
	byId("totp-secret", HTMLElement).textContent = "";
	renderTotp();
}

async function activateTotp(form: HTMLFormElement): Promise<void> {
	const region = byId("totp-setup-error", HTMLElement);
	const code = byId("totp-activate-code", HTMLInputElement);
	clearError(region);
	await whileBusy(inside(form, "button[type=submit]", HTMLButtonElement), "Verifying…", async () => {
		try {
			const activated = await api<{ recovery_codes?: string[] }>("POST", "/api/totp/activate/", { code: code.value });
			closeTotpSetup();
			await loadAll();
			notify("Authenticator app turned on.");
			if (activated.recovery_codes) showRecoveryCodes(activated.recovery_codes);
		} catch (error) {
			report(region, error);
			code.select();
		}
	});
}

async function removeTotp(): Promise<void> {
	clearNotice();
	clearError(byId("totp-error", HTMLElement));
	const removed = await confirmAction({
		title: "Remove the authenticator app?",
		text: "Its codes will stop working for this account.",
		confirmLabel: "Remove app",
		busyLabel: "Removing…",
		action: async () => {
			await api("DELETE", "/api/totp/");
		},
	});
	if (!removed) return;
	await loadAll();
	notify("Authenticator app removed.");
}

// ---------------------------------------------------------------- recovery codes

let shownCodes: string[] = [];

function showRecoveryCodes(codes: string[]): void {
	shownCodes = codes;
	byId("recovery-code-list", HTMLOListElement).replaceChildren(
		...codes.map((code) => h("li", { class: "code" }, h("code", {}, code))),
	);
	byId("recovery-codes", HTMLElement).hidden = false;
	const title = byId("recovery-codes-title", HTMLElement);
	title.scrollIntoView({ block: "center", behavior: "smooth" });
	title.focus({ preventScroll: true });
}

function hideRecoveryCodes(): void {
	shownCodes = [];
	byId("recovery-code-list", HTMLOListElement).replaceChildren();
	byId("recovery-codes", HTMLElement).hidden = true;
}

function recoveryCodesText(): string {
	const email = state.session?.user.email ?? "";
	return [
		"passkey-edge recovery codes",
		`Account: ${email}`,
		`Generated: ${new Date().toISOString()}`,
		"",
		"Each code signs you in once. Keep them somewhere safe.",
		"",
		...shownCodes,
		"",
	].join("\n");
}

async function copyRecoveryCodes(button: HTMLButtonElement): Promise<void> {
	try {
		await navigator.clipboard.writeText(recoveryCodesText());
		button.textContent = "Copied";
		setTimeout(() => {
			button.textContent = "Copy";
		}, 2000);
	} catch {
		showError(
			byId("recovery-error", HTMLElement),
			new ApiError(0, "clipboard", "The browser did not allow copying. Download the codes instead."),
		);
	}
}

function downloadRecoveryCodes(): void {
	const url = URL.createObjectURL(new Blob([recoveryCodesText()], { type: "text/plain;charset=utf-8" }));
	const link = h("a", { href: url, download: "passkey-edge-recovery-codes.txt", hidden: "" });
	document.body.append(link);
	link.click();
	link.remove();
	setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function regenerateRecoveryCodes(): Promise<void> {
	clearNotice();
	clearError(byId("recovery-error", HTMLElement));
	let codes: string[] = [];
	const done = await confirmAction({
		title: "Generate new recovery codes?",
		text: "Your current recovery codes will stop working as soon as the new ones are made.",
		confirmLabel: "Generate new codes",
		busyLabel: "Generating…",
		action: async () => {
			codes = (await api<{ recovery_codes: string[] }>("POST", "/api/recovery-codes/regenerate/")).recovery_codes;
		},
	});
	if (!done) return;
	await Promise.all([loadRecovery(), loadActivity()]);
	notify("New recovery codes generated. The old ones no longer work.");
	showRecoveryCodes(codes);
}

// ---------------------------------------------------------------- sessions

const AMR_NAMES: Record<string, string> = { pwd: "password", hwk: "passkey", swk: "passkey", otp: "one-time code" };

/** " with password and passkey", from the session's RFC 8176 amr values; "" when none is recorded. */
function withMethods(amr: string[]): string {
	const names = [...new Set(amr.flatMap((value) => AMR_NAMES[value] ?? []))];
	const last = names.pop();
	if (last === undefined) return "";
	return ` with ${names.length > 0 ? `${names.join(", ")} and ${last}` : last}`;
}

let regionNames: Intl.DisplayNames | null = null;

/** "Germany" for DE, in the reader's language; Cloudflare's T1 is Tor. */
function countryName(code: string): string {
	if (code === "T1") return "Tor network";
	try {
		regionNames ??= new Intl.DisplayNames(undefined, { type: "region" });
		return regionNames.of(code) ?? code;
	} catch {
		return code;
	}
}

const CLIENT_NAMES: Record<SessionEntry["client"], string> = {
	browser: "Browser",
	app: "App",
	unknown: "Browser or app",
};

function sessionItem(session: SessionEntry): HTMLLIElement {
	const titleRow = h("div", { class: "item-title-row" }, h("p", { class: "item-title" }, session.device));
	if (session.current) titleRow.append(h("span", { class: "badge current" }, "This device"));
	const where = [CLIENT_NAMES[session.client], ...(session.country ? [countryName(session.country)] : [])];
	const used = session.current
		? h("span", {}, "Active now")
		: h("span", {}, "Last used ", timeElement(session.last_used_at));
	const body = h(
		"div",
		{ class: "item-body" },
		titleRow,
		h("p", { class: "item-meta" }, where.join(" · ")),
		h(
			"p",
			{ class: "item-meta" },
			h("span", {}, "Signed in ", timeElement(session.created_at), withMethods(session.amr)),
			" · ",
			used,
		),
	);
	const item = h(
		"li",
		{ class: "item", "data-session-id": session.id, ...(session.current ? { "data-current": "" } : {}) },
		h("span", { class: `item-icon ${session.client === "app" ? "icon-app" : "icon-browser"}`, "aria-hidden": "true" }),
		body,
	);
	if (!session.current) {
		const signOut = h(
			"button",
			{ type: "button", class: "button danger-ghost small", "aria-label": `Sign out ${session.device}` },
			"Sign out",
		);
		signOut.addEventListener("click", () => void confirmSignOutSession(session));
		item.append(h("div", { class: "item-actions" }, signOut));
	}
	return item;
}

function renderSessions(): void {
	byId("session-list", HTMLUListElement).replaceChildren(...(state.sessions ?? []).map(sessionItem));
}

async function confirmSignOutSession(session: SessionEntry): Promise<void> {
	clearNotice();
	clearError(byId("sessions-error", HTMLElement));
	const done = await confirmAction({
		title: `Sign out ${session.device}?`,
		text: "That browser or app will have to sign in again. This one stays signed in.",
		confirmLabel: "Sign out session",
		busyLabel: "Signing out…",
		action: async () => {
			try {
				await api("DELETE", `/api/auth/sessions/${encodeURIComponent(session.id)}/`);
			} catch (error) {
				// Ended meanwhile (signed out there, expired): what was asked for is done.
				if (!(error instanceof ApiError && error.code === "not_found")) throw error;
			}
		},
	});
	if (!done) {
		byId("session-list", HTMLUListElement)
			.querySelector<HTMLElement>(`li[data-session-id="${CSS.escape(session.id)}"] button`)
			?.focus();
		return;
	}
	await loadSessions();
	notify(`Signed out ${session.device}.`);
	byId("revoke-others", HTMLButtonElement).focus();
}

/**
 * Ends every other session of the account; this one stays. Removing a
 * factor or making new recovery codes does not do it on its own (the user
 * is often tidying up on purpose), so it is offered here, one click away.
 */
async function signOutEverywhereElse(): Promise<void> {
	clearNotice();
	clearError(byId("sessions-error", HTMLElement));
	let revoked = 0;
	const done = await confirmAction({
		title: "Sign out everywhere else?",
		text: "Every other browser and app signed in to this account will have to sign in again. This one stays signed in.",
		confirmLabel: "Sign out other sessions",
		busyLabel: "Signing out…",
		action: async () => {
			revoked = (await api<{ revoked: number }>("POST", "/api/auth/sessions/revoke-others/")).revoked;
		},
	});
	if (!done) return;
	await loadSessions();
	void loadActivity();
	notify(
		revoked === 0
			? "No other session was signed in."
			: `Signed out ${revoked} other ${revoked === 1 ? "session" : "sessions"}.`,
	);
}

// ---------------------------------------------------------------- page

export async function initSecurity(): Promise<void> {
	onReauthenticationRequired(reauthenticate);
	const flash = takeFlash();
	if (flash) notify(flash);

	const addButton = byId("add-passkey", HTMLButtonElement);
	addButton.addEventListener("click", addPasskey);
	if (!browserSupportsWebAuthn()) {
		addButton.disabled = true;
		showError(
			byId("passkeys-error", HTMLElement),
			new ApiError(0, "unsupported", "This browser cannot use passkeys. Try a current version of your browser."),
		);
	}
	const setUp = byId("totp-set-up", HTMLButtonElement);
	setUp.addEventListener("click", () => void startTotpSetup(setUp));
	const setupForm = byId("totp-setup", HTMLFormElement);
	setupForm.addEventListener("submit", (event) => {
		event.preventDefault();
		void activateTotp(setupForm);
	});
	byId("totp-setup-cancel", HTMLButtonElement).addEventListener("click", () => {
		closeTotpSetup();
		setUp.focus();
	});
	byId("totp-remove", HTMLButtonElement).addEventListener("click", () => void removeTotp());
	byId("recovery-regenerate", HTMLButtonElement).addEventListener("click", () => void regenerateRecoveryCodes());
	const copy = byId("recovery-copy", HTMLButtonElement);
	copy.addEventListener("click", () => void copyRecoveryCodes(copy));
	byId("recovery-download", HTMLButtonElement).addEventListener("click", downloadRecoveryCodes);
	byId("recovery-done", HTMLButtonElement).addEventListener("click", () => {
		hideRecoveryCodes();
		byId("recovery-regenerate", HTMLButtonElement).focus();
	});
	byId("revoke-others", HTMLButtonElement).addEventListener("click", () => void signOutEverywhereElse());
	const signOut = byId("sign-out", HTMLButtonElement);
	signOut.addEventListener("click", () => {
		void whileBusy(signOut, "Signing out…", async () => {
			try {
				await api("POST", "/api/auth/logout/");
			} catch (error) {
				if (!(error instanceof ApiError && error.status === 401)) {
					showError(byId("page-error", HTMLElement), error);
					return;
				}
			}
			location.assign(SIGN_IN_PAGE);
		});
	});

	await loadAll();
	document.querySelector("main")?.removeAttribute("aria-busy");
	setInterval(() => refreshTimes(), 30_000);
	// Set-up mode asks for a passkey itself, with a prompt the person chose.
	if (inSetupMode()) forgetPasswordSignIn();
	else void upgradeToPasskey();
}

/** Right after a password sign-in: a passkey from the password manager, with no prompt (upgrade.ts). */
async function upgradeToPasskey(): Promise<void> {
	const registered = await offerPasskeyUpgrade();
	if (!registered) return;
	await loadAll();
	void signalPasskeys();
	notify(
		`Your password manager saved a passkey for this account: “${registered.passkey.name}”. Next time, sign in with it, no password needed.`,
	);
	if (registered.recovery_codes) showRecoveryCodes(registered.recovery_codes);
}
