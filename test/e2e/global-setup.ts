import type { TestProject } from "vitest/node";
import { startWorker } from "./worker";

declare module "vitest" {
	export interface ProvidedContext {
		baseUrl: string;
		persistDir: string;
	}
}

export default async function setup(project: TestProject) {
	const worker = await startWorker();
	project.provide("baseUrl", worker.baseUrl);
	project.provide("persistDir", worker.persistDir);
	return async () => {
		await worker.stop();
	};
}
