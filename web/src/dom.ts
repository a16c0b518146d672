// Small DOM helpers. Text from the server only ever goes in as text nodes
// (textContent); nothing here parses HTML.
import { ApiError } from "./api";
import { describeWebAuthnError } from "./webauthn";

export function byId<T extends HTMLElement>(id: string, type: { new (): T; prototype: T }): T {
	const element = document.getElementById(id);
	if (!(element instanceof type)) throw new Error(`#${id} is missing or not a ${type.name}`);
	return element;
}

export function inside<T extends Element>(root: ParentNode, selector: string, type: { new (): T; prototype: T }): T {
	const element = root.querySelector(selector);
	if (!(element instanceof type)) throw new Error(`${selector} is missing or not a ${type.name}`);
	return element;
}

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
	tag: K,
	attributes: Record<string, string> = {},
	...children: Child[]
): HTMLElementTagNameMap[K] {
	const element = document.createElement(tag);
	for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
	for (const child of children) {
		if (child === null || child === undefined || child === false) continue;
		element.append(typeof child === "string" ? document.createTextNode(child) : child);
	}
	return element;
}

/** What to tell a person about an error: the envelope's message, or a browser's WebAuthn failure. */
export function messageOf(error: unknown): string | null {
	if (error instanceof ApiError) {
		if (error.retryAfterSeconds !== null) {
			const minutes = Math.ceil(error.retryAfterSeconds / 60);
			return `${error.message} (You can try again in ${minutes === 1 ? "1 minute" : `${minutes} minutes`}.)`;
		}
		return error.message;
	}
	const webauthn = describeWebAuthnError(error);
	if (webauthn !== undefined) return webauthn;
	return "Something went wrong. Try again.";
}

/** Shows an error in an alert region; a null message (a cancelled prompt) clears it. */
export function showError(region: HTMLElement, error: unknown): void {
	const message = messageOf(error);
	region.replaceChildren();
	if (message === null) {
		region.hidden = true;
		return;
	}
	region.append(h("p", {}, message));
	if (error instanceof ApiError) {
		const fields = Object.entries(error.fields);
		if (fields.length > 0)
			region.append(h("ul", {}, ...fields.map(([name, problem]) => h("li", {}, `${name}: ${problem}`))));
	}
	region.hidden = false;
}

export function clearError(region: HTMLElement): void {
	region.replaceChildren();
	region.hidden = true;
}

/**
 * Runs `work` with the button disabled and showing `label` and a spinner, so a
 * person sees that the page is waiting and cannot submit twice.
 */
export async function whileBusy<T>(button: HTMLButtonElement, label: string, work: () => Promise<T>): Promise<T> {
	const children = Array.from(button.childNodes);
	const width = button.getBoundingClientRect().width;
	button.disabled = true;
	button.setAttribute("aria-busy", "true");
	if (width > 0) button.style.minWidth = `${Math.ceil(width)}px`;
	button.replaceChildren(h("span", { class: "spinner", "aria-hidden": "true" }), document.createTextNode(label));
	try {
		return await work();
	} finally {
		button.replaceChildren(...children);
		button.disabled = false;
		button.removeAttribute("aria-busy");
		button.style.minWidth = "";
	}
}

/**
 * The first field of a page gets the focus once the page's session check has
 * answered, unless the person already went to a field or a button: the answer
 * can come while they type, and moving the focus then would send the rest of
 * their typing (the password, say) into the email field.
 */
export function focusUnlessTaken(field: HTMLElement): void {
	const active = document.activeElement;
	if (active === null || active === document.body) field.focus();
}

/** A one-off message for the next page (after a redirect). */
export function setFlash(message: string): void {
	try {
		sessionStorage.setItem("flash", message);
	} catch {
		// Storage can be unavailable (private modes); the message is only a courtesy.
	}
}

export function takeFlash(): string | null {
	try {
		const message = sessionStorage.getItem("flash");
		sessionStorage.removeItem("flash");
		return message;
	} catch {
		return null;
	}
}
