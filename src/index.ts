import { app } from "./app";

export type { AppType } from "./app";
export { UserState } from "./durable/user-state";

export default app;
