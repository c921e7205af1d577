/** The events the channels module emits (see DomainEventMap). */
declare module "../../events/types" {
  interface DomainEventMap {
    /** A channel connection was created, changed, disabled or enabled again (`connectionId` is the local id). */
    "channel_connection.changed": {
      type: "channel_connection.changed";
      tenantId: string;
      connectionId: string;
      channel: string;
      change: "created" | "updated" | "disabled" | "enabled";
    };
  }
}

export const CHANNEL_EVENTS = ["channel_connection.changed"] as const;
