// docs/API.md is the repository's copy of the contract, so that a clone on
// its own has it (test/routes/openapi.test.ts reads it). Where the team's
// shared folder sits beside the repository (the team's machines, CI), the
// copy must equal its shared/API.md: a changed contract fails here until the
// copy is updated (cp ../shared/API.md docs/API.md) and the code follows it.
import { existsSync, readFileSync } from "node:fs";

const shared = "../shared/API.md";
const copy = "docs/API.md";
if (!existsSync(shared)) {
	console.log(`contract: ${shared} is not beside the repository; ${copy} is used as it is`);
	process.exit(0);
}
if (readFileSync(shared, "utf8") !== readFileSync(copy, "utf8")) {
	console.error(`contract: ${copy} differs from ${shared}: copy it over (cp ${shared} ${copy}) and follow the change`);
	process.exit(1);
}
console.log(`contract: ${copy} equals ${shared}`);
