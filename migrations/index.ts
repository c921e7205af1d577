import { Foundation1764310000000 } from "./1764310000000-foundation";

/**
 * Every migration, in order. `npm run migration:generate -- migrations/<name>` writes a new file;
 * add its class here (an explicit list works the same from ts sources and the compiled build).
 */
export const migrations = [Foundation1764310000000];
