// Vite's `?raw` imports: a file's text, for tests that compare code with docs.
declare module "*?raw" {
	const content: string;
	export default content;
}
