import { ApiError, api, type SessionResult } from "../api";
import { byId, clearError, focusUnlessTaken, h, setFlash, showError, whileBusy } from "../dom";
import { currentSession, SETTINGS_PAGE } from "../session";
import { browserSupportsWebAuthn, signUpWithPasskey } from "../webauthn";

// The sign-up page offers a passkey first: the email, then "Create account
// with a passkey" (POST /api/auth/signup/passkey/options/ and complete/);
// "or use a password" is the alternative, in the same form so that a
// password manager sees the email and the new password together. After a
// passkey sign-up the ten recovery codes are shown here, once, and then the
// security page.

function showRecoveryCodes(email: string, codes: string[]): void {
	byId("sign-up-step", HTMLElement).hidden = true;
	byId("recovery-code-list", HTMLOListElement).replaceChildren(
		...codes.map((code) => h("li", { class: "code" }, h("code", {}, code))),
	);
	byId("recovery-step", HTMLElement).hidden = false;
	document.title = "Save your recovery codes · passkey-edge";
	byId("recovery-codes-title", HTMLElement).focus();

	const text = [
		"passkey-edge recovery codes",
		`Account: ${email}`,
		`Generated: ${new Date().toISOString()}`,
		"",
		"Each code signs you in once. Keep them somewhere safe.",
		"",
		...codes,
		"",
	].join("\n");
	const copy = byId("recovery-copy", HTMLButtonElement);
	copy.addEventListener("click", () => {
		navigator.clipboard.writeText(text).then(
			() => {
				copy.textContent = "Copied";
				setTimeout(() => {
					copy.textContent = "Copy";
				}, 2000);
			},
			() =>
				showError(
					byId("recovery-error", HTMLElement),
					new ApiError(0, "clipboard", "The browser did not allow copying. Download the codes instead."),
				),
		);
	});
	byId("recovery-download", HTMLButtonElement).addEventListener("click", () => {
		const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
		const link = h("a", { href: url, download: "passkey-edge-recovery-codes.txt", hidden: "" });
		document.body.append(link);
		link.click();
		link.remove();
		setTimeout(() => URL.revokeObjectURL(url), 10_000);
	});
	byId("recovery-done", HTMLButtonElement).addEventListener("click", () => {
		setFlash("Your account is ready. Your passkey signs you in, and you can add a password or more passkeys here.");
		location.assign(SETTINGS_PAGE);
	});
}

export async function initSignUp(): Promise<void> {
	const form = byId("sign-up-form", HTMLFormElement);
	const email = byId("email", HTMLInputElement);
	const password = byId("password", HTMLInputElement);
	const passkeyButton = byId("passkey-sign-up", HTMLButtonElement);
	const passwordButton = byId("password-sign-up", HTMLButtonElement);
	const passkeyError = byId("passkey-error", HTMLElement);
	const passwordError = byId("password-error", HTMLElement);

	// The password is required only for the password button; the browser
	// checks the form when a button is clicked, after this runs.
	passkeyButton.addEventListener("click", () => {
		password.required = false;
	});
	passwordButton.addEventListener("click", () => {
		password.required = true;
	});
	// Enter in the password field means the password, not the form's first button.
	password.addEventListener("keydown", (event) => {
		if (event.key !== "Enter") return;
		event.preventDefault();
		passwordButton.click();
	});

	form.addEventListener("submit", (event) => {
		event.preventDefault();
		clearError(passkeyError);
		clearError(passwordError);
		if (event.submitter === passwordButton) {
			void whileBusy(passwordButton, "Creating your account…", async () => {
				try {
					const { session } = await api<SessionResult>("POST", "/api/auth/signup/", {
						email: email.value,
						password: password.value,
					});
					// When a second factor is required, the security page says so itself (set-up mode).
					if (session.level === "full") {
						setFlash("Your account is ready. Add a passkey to sign in faster and to protect your account.");
					}
					location.assign(SETTINGS_PAGE);
				} catch (failure) {
					showError(passwordError, failure);
				}
			});
			return;
		}
		void whileBusy(passkeyButton, "Waiting for your passkey…", async () => {
			try {
				const done = await signUpWithPasskey(email.value);
				showRecoveryCodes(done.user.email, done.recovery_codes);
			} catch (failure) {
				showError(passkeyError, failure);
			}
		});
	});

	if (!browserSupportsWebAuthn()) {
		// No passkeys in this browser: the password is the way, and the form's first button.
		byId("passkey-sign-up-part", HTMLElement).hidden = true;
		passwordButton.classList.replace("secondary", "primary");
	}

	try {
		const level = (await currentSession())?.level;
		if (level === "full" || level === "setup_required") location.replace(SETTINGS_PAGE);
	} catch {
		// Nothing to do: the form works either way.
	}
	focusUnlessTaken(email);
}
