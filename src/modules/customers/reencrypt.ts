import type { App } from "../../app";
import { contactIndexes, identityIndex } from "./blind";

/**
 * Brings every personal value at rest under the first data key (CRM_DATA_KEY's first): values under an older
 * key after a rotation, and values stored in plain text before encryption existed (the upgrade), with their
 * blind indexes recomputed. Table by table, in keyset pages of 500 rows, one transaction per page: a run that
 * stops (a crash, a deploy) loses at most a page, and the next run skips what is done — what is left is what
 * does not read `p1:<current key id>:`. A value a writer changed meanwhile is left as that writer wrote it
 * (each column is set only if it still holds what was read).
 *
 * The job (`crm.customers.reencrypt`) is sent at start whenever the current key has not been brought through
 * yet (`data_key_state`); rows of the upgrade that have no blind index yet are done before the server listens,
 * since until then lookups could not find them (and the pipeline would create their customers again).
 */
type Kind = "text" | "json";
interface Spec {
  table: string;
  pk: string[];
  columns: { name: string; kind: Kind }[];
}

const hex = (b: Buffer | null) => (b ? b.toString("hex") : null);

const SPECS: Spec[] = [
  {
    table: "customer_identities",
    pk: ["id"],
    columns: [{ name: "value", kind: "text" }],
  },
  {
    table: "customers",
    pk: ["id"],
    columns: [
      { name: "phone", kind: "text" },
      { name: "email", kind: "text" },
      { name: "birthday", kind: "text" },
    ],
  },
  { table: "customer_merges", pk: ["id"], columns: [{ name: "changes", kind: "json" }, { name: "snapshot", kind: "json" }] },
  { table: "identity_conflicts", pk: ["id"], columns: [{ name: "identities", kind: "json" }] },
  { table: "ingested_events", pk: ["tenant_id", "channel", "external_id"], columns: [{ name: "payload", kind: "json" }] },
];

/** SQL true when `col` is not encrypted under the key `$1` names (a LIKE pattern). Empty JSON objects need nothing. */
function stale(col: string, kind: Kind): string {
  return kind === "text"
    ? `(${col} IS NOT NULL AND ${col} NOT LIKE $1)`
    : `(${col} <> '{}'::jsonb AND (jsonb_typeof(${col}) <> 'string' OR ${col} #>> '{}' NOT LIKE $1))`;
}

export interface ReencryptProgress {
  keyId: string;
  table: string;
  rows: Record<string, number>;
}

export type ReencryptDeps = Pick<App, "db" | "dataKeys">;

export class Reencryption {
  constructor(private readonly app: ReencryptDeps) {}

  /** Whether some identity or contact has no blind index yet (rows from before encryption): done before listening. */
  async unindexed(): Promise<boolean> {
    const rows = await this.app.db.dataSource.query(
      `SELECT 1 FROM customer_identities WHERE value_index IS NULL
       UNION ALL SELECT 1 FROM customers WHERE (phone IS NOT NULL AND phone_index IS NULL) OR (email IS NOT NULL AND email_index IS NULL)
       LIMIT 1`,
    );
    return rows.length > 0;
  }

  /** Whether some value of some table is not under the current key (a quick look: the first one found). */
  async anyStale(): Promise<boolean> {
    const like = `p1:${this.app.dataKeys.currentKeyId}:%`;
    for (const spec of SPECS) {
      const where = spec.columns.map((c) => stale(`t.${c.name}`, c.kind)).join(" OR ");
      if ((await this.app.db.dataSource.query(`SELECT 1 FROM ${spec.table} t WHERE ${where} LIMIT 1`, [like])).length) return true;
    }
    return false;
  }

  /** Notes that the current key holds everything (nothing to re-encrypt). */
  async markDone(): Promise<void> {
    await this.app.db.dataSource.query(`INSERT INTO data_key_state (key_id, completed_at) VALUES ($1, now()) ON CONFLICT (key_id) DO UPDATE SET completed_at = now()`, [this.app.dataKeys.currentKeyId]);
  }

  /** Whether the current key has been brought through every table. */
  async done(): Promise<boolean> {
    return (await this.app.db.dataSource.query(`SELECT 1 FROM data_key_state WHERE key_id = $1`, [this.app.dataKeys.currentKeyId])).length > 0;
  }

  /** Runs to the end; `report` hears the progress after each page. Returns the rows rewritten per table. */
  async run(report?: (p: ReencryptProgress) => Promise<void>): Promise<Record<string, number>> {
    const keys = this.app.dataKeys;
    const like = `p1:${keys.currentKeyId}:%`;
    const rows: Record<string, number> = {};
    for (const spec of SPECS) {
      rows[spec.table] = 0;
      const staleSql = spec.columns.map((c) => stale(`t.${c.name}`, c.kind)).join(" OR ");
      const indexNull = spec.table === "customer_identities" ? " OR t.value_index IS NULL" : spec.table === "customers" ? " OR (t.phone IS NOT NULL AND t.phone_index IS NULL) OR (t.email IS NOT NULL AND t.email_index IS NULL)" : "";
      const extra = spec.table === "customer_identities" ? ", t.tenant_id, t.type" : spec.table === "customers" ? ", t.tenant_id" : "";
      let after: unknown[] | null = null;
      for (;;) {
        const pk = spec.pk.map((k) => `t.${k}`).join(", ");
        const cursor = after ? `AND (${pk}) > (${spec.pk.map((_, i) => `$${i + 2}`).join(", ")})` : "";
        const page: Record<string, any>[] = await this.app.db.dataSource.query(
          `SELECT ${pk}, ${spec.columns.map((c) => `t.${c.name}`).join(", ")}${extra} FROM ${spec.table} t
            WHERE (${staleSql}${indexNull}) ${cursor} ORDER BY ${pk} LIMIT 500`,
          [like, ...(after ?? [])],
        );
        if (!page.length) break;
        const updates = page.map((row) => this.rewrite(spec, row));
        await this.apply(spec, updates);
        rows[spec.table] += page.length;
        after = spec.pk.map((k) => page[page.length - 1][k]);
        await report?.({ keyId: keys.currentKeyId, table: spec.table, rows: { ...rows } });
        if (page.length < 500) break;
      }
    }
    await this.markDone();
    return rows;
  }

  /** The row's columns under the current key (and its indexes), beside what was read (to detect a writer meanwhile). */
  private rewrite(spec: Spec, row: Record<string, any>): Record<string, unknown> {
    const keys = this.app.dataKeys;
    const out: Record<string, unknown> = {};
    for (const k of spec.pk) out[k] = row[k];
    const plain: Record<string, any> = {};
    for (const c of spec.columns) {
      const v = row[c.name];
      out[`old_${c.name}`] = v;
      if (c.kind === "text") {
        plain[c.name] = keys.decryptOrNull(v);
        out[c.name] = plain[c.name] === null ? null : keys.encrypt(plain[c.name]);
      } else {
        plain[c.name] = keys.decryptJson(v);
        out[c.name] = keys.encryptJson(plain[c.name]);
      }
    }
    if (spec.table === "customer_identities") out.value_index = plain.value === null ? null : hex(identityIndex(keys, row.tenant_id, row.type, plain.value));
    if (spec.table === "customers") {
      const idx = contactIndexes(keys, row.tenant_id, { phone: plain.phone, email: plain.email });
      out.phone_index = hex(idx.phoneIndex);
      out.email_index = hex(idx.emailIndex);
      out.phone_last4_index = hex(idx.phoneLast4Index);
    }
    return out;
  }

  private async apply(spec: Spec, updates: Record<string, unknown>[]): Promise<void> {
    const pkTypes: Record<string, string> = { id: "uuid", tenant_id: "uuid", channel: "text", external_id: "text" };
    const cols = [
      ...spec.pk.map((k) => `${k} ${pkTypes[k]}`),
      ...spec.columns.flatMap((c) => [`${c.name} ${c.kind === "json" ? "jsonb" : "text"}`, `old_${c.name} ${c.kind === "json" ? "jsonb" : "text"}`]),
      ...(spec.table === "customer_identities" ? ["value_index text"] : []),
      ...(spec.table === "customers" ? ["phone_index text", "email_index text", "phone_last4_index text"] : []),
    ];
    const same = (c: string) => `t.${c} IS NOT DISTINCT FROM x.old_${c}`;
    const sets = spec.columns.map((c) => `${c.name} = CASE WHEN ${same(c.name)} THEN x.${c.name} ELSE t.${c.name} END`);
    if (spec.table === "customer_identities") sets.push(`value_index = CASE WHEN ${same("value")} THEN decode(x.value_index, 'hex') ELSE t.value_index END`);
    if (spec.table === "customers") {
      sets.push(`phone_index = CASE WHEN ${same("phone")} THEN decode(x.phone_index, 'hex') ELSE t.phone_index END`);
      sets.push(`phone_last4_index = CASE WHEN ${same("phone")} THEN decode(x.phone_last4_index, 'hex') ELSE t.phone_last4_index END`);
      sets.push(`email_index = CASE WHEN ${same("email")} THEN decode(x.email_index, 'hex') ELSE t.email_index END`);
    }
    await this.app.db.dataSource.query(
      `UPDATE ${spec.table} t SET ${sets.join(", ")}
         FROM jsonb_to_recordset($1::jsonb) AS x(${cols.join(", ")})
        WHERE ${spec.pk.map((k) => `t.${k} = x.${k}`).join(" AND ")}`,
      [JSON.stringify(updates)],
    );
  }
}
