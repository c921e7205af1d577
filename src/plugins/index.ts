/**
 * The public plugin contract: everything an adapter may import. Adapters import from here
 * (`src/plugins`) and nothing else of the server.
 */
export * from "./types";
export * from "./events";
export * from "./identity";
export * from "./graphql";
export * from "./signing";
export * from "./body";
export type { Delivered, DomainEvent, DomainEventType } from "../events/types";
