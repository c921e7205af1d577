import type { DataSource } from "typeorm";
import type { DataKeyring } from "../../src/core/data-keys";

/**
 * The tenant's customer data with database ids replaced by each customer's identity list, so two
 * runs that created customers in another order (other uuids) compare equal when they mean the same.
 */
export async function snapshot(ds: DataSource, tenantId: string, keys: DataKeyring): Promise<unknown> {
  const rows: any[] = await ds.query(
    `SELECT c.id, c.display_name, c.gender, c.birthday, c.country, c.province, c.city, c.phone, c.email,
            (SELECT coalesce(array_agg(t ORDER BY t), '{}') FROM unnest(c.tags) t) AS tags, c.attributes,
            c.first_seen_at, c.last_seen_at,
            (SELECT array_agg(i.type || ':' || i.value) FROM customer_identities i WHERE i.customer_id = c.id) AS identities
       FROM customers c WHERE c.tenant_id = $1`,
    [tenantId],
  );
  // Personal values are stored encrypted (with a fresh IV each time): compare what they say.
  const open = (v: string | null) => keys.decryptOrNull(v);
  const customers = rows.map((c) => ({
    ...c,
    birthday: open(c.birthday),
    phone: open(c.phone),
    email: open(c.email),
    identities: c.identities
      ? (c.identities as string[])
          .map((x) => {
            const at = x.indexOf(":");
            return `${x.slice(0, at)}:${keys.decrypt(x.slice(at + 1))}`;
          })
          .sort()
      : null,
  }));
  const keyOf = new Map(customers.map((c) => [c.id, (c.identities ?? []).join(",")]));
  const orders: any[] = await ds.query(
    `SELECT channel, external_order_id, customer_id, currency, subtotal, discount, shipping, total, refunded, items,
            placed_at, paid_at, cancelled_at, completed_at
       FROM orders WHERE tenant_id = $1 ORDER BY channel, external_order_id`,
    [tenantId],
  );
  const stats: any[] = await ds.query(`SELECT customer_id, orders_count, total_spent, first_order_at, last_order_at FROM customer_stats WHERE tenant_id = $1`, [tenantId]);
  const strip = ({ id, ...rest }: any) => ({ key: keyOf.get(id), ...rest, first_seen_at: iso(rest.first_seen_at), last_seen_at: iso(rest.last_seen_at) });
  return {
    customers: customers.map(strip).sort((a, b) => cmp(a.key, b.key)),
    orders: orders.map(({ customer_id, ...o }) => ({ ...o, customer: keyOf.get(customer_id) ?? null, placed_at: iso(o.placed_at), paid_at: iso(o.paid_at), cancelled_at: iso(o.cancelled_at), completed_at: iso(o.completed_at) })),
    stats: stats
      .filter((s) => Number(s.orders_count) > 0 || Number(s.total_spent) > 0)
      .map(({ customer_id, ...s }) => ({ customer: keyOf.get(customer_id), ...s, first_order_at: iso(s.first_order_at), last_order_at: iso(s.last_order_at) }))
      .sort((a, b) => cmp(a.customer, b.customer)),
  };
}

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : d ?? null);
const cmp = (a: unknown, b: unknown) => String(a).localeCompare(String(b));
