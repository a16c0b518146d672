// One bundle for every page; the page says which part to run.
import { initSecurity } from "./pages/security";
import { initSignIn } from "./pages/sign-in";
import { initSignUp } from "./pages/sign-up";

const pages: Record<string, () => Promise<void>> = {
	"sign-in": initSignIn,
	"sign-up": initSignUp,
	security: initSecurity,
};

const init = pages[document.body.dataset.page ?? ""];
if (init) {
	init()
		.catch((error: unknown) => {
			console.error(error);
		})
		.finally(() => {
			// The page has started (its session check answered and was acted
			// on): for the browser tests to wait on, never shown to the person.
			document.body.dataset.started = "";
		});
}
