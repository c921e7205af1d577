/** The events the segments module emits (see DomainEventMap). */
declare module "../../events/types" {
  interface DomainEventMap {
    /** A customer joined a segment (a rule segment's condition now holds, or a static segment got them). */
    "segment.member_added": { type: "segment.member_added"; tenantId: string; segmentId: string; customerId: string };
    /** A customer left a segment (no longer matches, removed by hand, merged away or erased). */
    "segment.member_removed": { type: "segment.member_removed"; tenantId: string; segmentId: string; customerId: string };
    /** A segment was created, changed (name, rule) or deleted. */
    "segment.changed": { type: "segment.changed"; tenantId: string; segmentId: string; change: "created" | "updated" | "deleted" };
  }
}

export const SEGMENT_EVENTS = ["segment.member_added", "segment.member_removed", "segment.changed"] as const;
