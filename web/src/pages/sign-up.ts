import { api, type SessionResult } from "../api";
import { byId, clearError, inside, setFlash, showError, whileBusy } from "../dom";
import { currentSession, SETTINGS_PAGE } from "../session";

export async function initSignUp(): Promise<void> {
	const form = byId("sign-up-form", HTMLFormElement);
	const error = inside(form, ".error", HTMLElement);
	const email = byId("email", HTMLInputElement);
	const password = byId("password", HTMLInputElement);

	form.addEventListener("submit", (event) => {
		event.preventDefault();
		clearError(error);
		void whileBusy(inside(form, "button[type=submit]", HTMLButtonElement), "Creating your account…", async () => {
			try {
				await api<SessionResult>("POST", "/api/auth/signup/", { email: email.value, password: password.value });
				setFlash("Your account is ready. Add a passkey to sign in faster and to protect your account.");
				location.assign(SETTINGS_PAGE);
			} catch (failure) {
				showError(error, failure);
			}
		});
	});

	try {
		if ((await currentSession())?.level === "full") location.replace(SETTINGS_PAGE);
	} catch {
		// Nothing to do: the form works either way.
	}
	email.focus();
}
