import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";

/** One row per domain event, written in the transaction that caused it. */
@Entity({ name: "outbox" })
export class OutboxRow {
  @PrimaryGeneratedColumn({ type: "bigint" })
  id: string;

  @Column({ type: "uuid", nullable: true })
  tenantId: string | null;

  @Column({ type: "text" })
  type: string;

  @Column({ type: "jsonb" })
  payload: object;

  @Column({ type: "timestamptz", precision: 3 })
  createdAt: Date;

  @Column({ type: "timestamptz", precision: 3, nullable: true })
  dispatchedAt: Date | null;

  @Column({ type: "int", default: 0 })
  attempts: number;

  /** While set and in the future, a dispatcher is running this row's handlers. */
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  leaseUntil: Date | null;

  /** When the event was handed to the PubSub; a retry does not publish it again. */
  @Column({ type: "timestamptz", precision: 3, nullable: true })
  publishedAt: Date | null;

  /** Names of the handlers that completed for this row; a retry runs only the others. */
  @Column({ type: "text", array: true, default: () => "'{}'" })
  handlersDone: string[];
}
