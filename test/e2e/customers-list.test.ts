import { aCustomer, createCustomer } from "../fixtures/customers";
import { createTestServer, createTenant, type TestServer } from "../helpers/test-server";

let t: TestServer;
let key: string; // a tenant of its own, so counts are exact
const created: any[] = [];

beforeAll(async () => {
  t = await createTestServer();
  ({ key } = await createTenant(t, "list-tenant"));
  const names = ["王芳", "李娜", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴磊", "徐丽", "孙悦"];
  for (let i = 0; i < 60; i++) {
    const c = await createCustomer(
      t,
      aCustomer({ displayName: `${names[i % names.length]}${String(i).padStart(2, "0")}`, tags: i % 3 === 0 ? ["VIP", "复购"] : ["新客"] }),
      key,
    );
    created.push(c);
    // Give each its own millisecond so creation order is total (keyset ties are tested separately).
    await new Promise((r) => setTimeout(r, 2));
  }
  for (const c of created.slice(0, 4)) {
    const r = await t.gql(
      `mutation($id: ID!, $v: String!) { attachCustomerIdentity(input: {customerId: $id, type: WECHAT_OPENID, value: $v}) { userErrors { code } } }`,
      { id: c.id, v: c.id },
      key,
    );
    expect(r.data.attachCustomerIdentity.userErrors).toEqual([]);
  }
});
afterAll(() => t?.close());

const LIST = `query($first: Int, $after: String, $last: Int, $before: String, $filter: CustomerFilter, $orderBy: CustomerOrder) {
  customers(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
    totalCount
    edges { cursor node { id displayName } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

async function list(vars: Record<string, unknown>) {
  const r = await t.gql(LIST, vars, key);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data.customers;
}

describe("customers connection", () => {
  it("pages forward through every customer exactly once, newest first by default", async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const c: any = await list({ first: 25, after });
      seen.push(...c.edges.map((e: any) => e.node.id));
      expect(c.totalCount).toBe(60);
      if (!c.pageInfo.hasNextPage) break;
      after = c.pageInfo.endCursor;
    }
    expect(seen).toEqual(created.map((c) => c.id).reverse());
  });

  it("pages backward with last/before and gives the same order", async () => {
    const seen: string[] = [];
    let before: string | null = null;
    for (let page = 0; page < 10; page++) {
      const c: any = await list({ last: 25, before, orderBy: { field: "CREATED_AT", direction: "ASC" } });
      seen.unshift(...c.edges.map((e: any) => e.node.id));
      if (!c.pageInfo.hasPreviousPage) break;
      before = c.pageInfo.startCursor;
    }
    expect(seen).toEqual(created.map((c) => c.id));
  });

  it("sorts by display name in both directions", async () => {
    const asc = await list({ first: 250, orderBy: { field: "DISPLAY_NAME", direction: "ASC" } });
    const names = asc.edges.map((e: any) => e.node.displayName);
    expect(names).toEqual([...names].sort((a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)));
    const desc = await list({ first: 250, orderBy: { field: "DISPLAY_NAME", direction: "DESC" } });
    expect(desc.edges.map((e: any) => e.node.id)).toEqual(asc.edges.map((e: any) => e.node.id).reverse());
  });

  it("refuses more than 250 per page, negative sizes, first with last, and foreign cursors", async () => {
    for (const vars of [{ first: 251 }, { last: 1000 }, { first: -1 }, { first: 1, last: 1 }, { first: 1, after: "bm90LWEtY3Vyc29y" }]) {
      const r = await t.gql(LIST, vars, key);
      expect(r.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
    }
  });

  it("filters by tags (all given tags), search and creation time", async () => {
    const vip = await list({ first: 250, filter: { tags: ["VIP", "复购"] } });
    expect(vip.totalCount).toBe(20);
    const byName = await list({ first: 10, filter: { search: "张伟" } });
    expect(byName.edges.every((e: any) => e.node.displayName.startsWith("张伟"))).toBe(true);
    expect(byName.totalCount).toBe(5);
    const target = created[17];
    const byPhone = await list({ first: 10, filter: { search: target.phone.replace("+86", "").replace(/(\d{3})(\d{4})(\d{4})/, "$1 $2 $3") } });
    expect(byPhone.edges.map((e: any) => e.node.id)).toEqual([target.id]);
    const byEmail = await list({ first: 10, filter: { search: target.email.toUpperCase() } });
    expect(byEmail.edges.map((e: any) => e.node.id)).toEqual([target.id]);
    const wildcard = await list({ first: 10, filter: { search: "%" } });
    expect(wildcard.totalCount).toBe(0);
    const window = await list({ first: 250, filter: { createdAfter: created[10].createdAt, createdBefore: created[20].createdAt } });
    expect(window.edges.map((e: any) => e.node.id).sort()).toEqual(created.slice(10, 20).map((c) => c.id).sort());
  });

  it("sends as many SQL statements for 50 customers with identities as for 5", async () => {
    const q = `query($n: Int) { customers(first: $n) { edges { node { id identities { type value } } } } }`;
    const small = await t.countStatements(() => t.gql(q, { n: 5 }, key));
    const large = await t.countStatements(() => t.gql(q, { n: 50 }, key));
    expect(large).toBe(small);
    // auth + page + identities + the audit record of an unmasked read (one per request): the count is small and
    // does not include a count(*) nobody asked for.
    expect(small).toBeLessThanOrEqual(4);
    const r = await t.gql(q, { n: 50 }, key);
    const withOpenid = r.data.customers.edges.filter((e: any) => e.node.identities.some((i: any) => i.type === "WECHAT_OPENID"));
    expect(withOpenid).toHaveLength(0); // newest 50 exclude the first four, which have openids
    const oldest = await t.gql(`{ customers(first: 4, orderBy: {field: CREATED_AT, direction: ASC}) { nodes { id identities { type value } } } }`, {}, key);
    for (const n of oldest.data.customers.nodes) {
      expect(n.identities.find((i: any) => i.type === "WECHAT_OPENID").value).toBe(n.id);
    }
  });
});
