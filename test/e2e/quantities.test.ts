import { signHttpJson } from "../../adapters/http-json";
import { createTestServer, type TestServer } from "../helpers/test-server";

/**
 * Weighed and fractional quantities end to end: kept exactly from each channel's payload to the
 * API's `Decimal` strings, refunds of fractional lines summed exactly. Expected amounts are worked
 * out by hand from the payloads (price per kg × weight, rounded half away from zero to the fen).
 */
let t: TestServer;
const SECRET = "pos_live_qty_5b7d9f1a3c5e7a9b";
const connections: Record<string, { id: string; webhook: string }> = {};

beforeAll(async () => {
  t = await createTestServer({ PUBLIC_URL: "https://crm.example.cn" });
  for (const [channel, config] of [
    ["pos", { secret: SECRET, stores: ["SH001"] }],
    ["http-json", { secret: SECRET }],
  ] as const) {
    const r = await t.gql(`mutation($channel: String!, $config: JSONObject!) { createChannelConnection(input: {channel: $channel, name: "称重", config: $config}) { connection { id webhookUrl } userErrors { code } } }`, {
      channel,
      config,
    });
    const c = r.data.createChannelConnection.connection;
    connections[channel] = { id: c.id, webhook: `${t.url}${new URL(c.webhookUrl).pathname}` };
  }
});
afterAll(() => t.close());

async function post(channel: string, body: string, contentType: string) {
  const res = await fetch(connections[channel].webhook, { method: "POST", headers: { "content-type": contentType, "x-crm-signature": signHttpJson(SECRET, body) }, body });
  return { status: res.status, json: (await res.json()) as any };
}
const order = async (externalId: string) => {
  const r = await t.gql(`{ orders(first: 250) { nodes { externalId total subtotal items { sku quantity unit unitPrice refundedQuantity } } } }`);
  return r.data.orders.nodes.find((o: { externalId: string }) => o.externalId === externalId);
};

describe("weighed lines from the POS", () => {
  it("keeps 0.42 kg from POSLog XML, with its price per kg and unit", async () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<POSLog xmlns="http://www.nrf-arts.org/IXRetail/namespace/" MajorVersion="6" MinorVersion="0">
  <Transaction CancelFlag="false" TrainingModeFlag="false">
    <RetailStoreID>SH001</RetailStoreID>
    <WorkstationID TypeCode="POS">05</WorkstationID>
    <SequenceNumber>2001</SequenceNumber>
    <BusinessDayDate>2026-11-21</BusinessDayDate>
    <BeginDateTime>2026-11-21T18:30:00</BeginDateTime>
    <EndDateTime>2026-11-21T18:31:00</EndDateTime>
    <CurrencyCode>CNY</CurrencyCode>
    <RetailTransaction TransactionStatus="Finished">
      <LineItem EntryMethod="Keyed">
        <SequenceNumber>1</SequenceNumber>
        <Sale ItemType="Stock">
          <ItemID>APPLE-FUJI</ItemID>
          <Description>红富士苹果</Description>
          <RegularSalesUnitPrice>12.80</RegularSalesUnitPrice>
          <Quantity UnitOfMeasureCode="KGM">0.42</Quantity>
        </Sale>
      </LineItem>
      <LineItem EntryMethod="Keyed">
        <SequenceNumber>2</SequenceNumber>
        <Sale ItemType="Stock">
          <ItemID>TEA-LJ</ItemID>
          <Description>龙井散茶</Description>
          <RegularSalesUnitPrice>880.00</RegularSalesUnitPrice>
          <Quantity UnitOfMeasureCode="KGM">0.125</Quantity>
        </Sale>
      </LineItem>
    </RetailTransaction>
  </Transaction>
</POSLog>`;
    const r = await post("pos", xml, "application/xml");
    expect(r.status).toBe(200);
    expect(r.json.results.every((x: { status: string }) => x.status === "accepted")).toBe(true);
    const o = await order("SH001:05-20261121-2001");
    // 12.80 × 0.42 = 5.376 → 5.38; 880.00 × 0.125 = 110.00.
    expect(o).toMatchObject({ subtotal: 538 + 11000 });
    expect(o.items).toEqual([
      { sku: "APPLE-FUJI", quantity: "0.42", unit: "kg", unitPrice: 1280, refundedQuantity: "0" },
      { sku: "TEA-LJ", quantity: "0.125", unit: "kg", unitPrice: 88000, refundedQuantity: "0" },
    ]);
  });

  it("keeps decimal quantities in the POS JSON and CSV formats", async () => {
    const sale = JSON.stringify({
      storeId: "SH001",
      transactionId: "01-Q-0001",
      occurredAt: "2026-11-21T09:00:00+08:00",
      type: "sale",
      lines: [{ sku: "PEAR", quantity: 1.5, unit: "kg", unitPrice: 999 }],
    });
    expect((await post("pos", sale, "application/json")).json.results[0].status).toBe("accepted");
    // 9.99 × 1.5 = 14.985 → 14.99
    expect(await order("SH001:01-Q-0001")).toMatchObject({ subtotal: 1499, items: [{ sku: "PEAR", quantity: "1.5", unit: "kg", unitPrice: 999 }] });

    const csv = ["storeId,transactionId,occurredAt,type,sku,title,quantity,unit,unitPrice", "SH001,01-Q-0002,2026-11-21 09:30:00,sale,GRAPE,葡萄,0.333,kg,3000"].join("\n");
    expect((await post("pos", csv, "text/csv")).json.results[0].status).toBe("accepted");
    // 30.00 × 0.333 = 9.99
    expect(await order("SH001:01-Q-0002")).toMatchObject({ subtotal: 999, items: [{ sku: "GRAPE", quantity: "0.333", unit: "kg", unitPrice: 3000 }] });

    const tooFine = JSON.stringify({ storeId: "SH001", transactionId: "01-Q-0003", occurredAt: "2026-11-21T09:00:00+08:00", type: "sale", lines: [{ sku: "PEAR", quantity: 1.2345, unitPrice: 999 }] });
    const refused = await post("pos", tooFine, "application/json");
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.json)).toMatch(/decimal places/);
  });
});

describe("refunds of fractional lines (http-json)", () => {
  const at = "2026-11-22T10:00:00+08:00";
  const events = (list: unknown[]) => JSON.stringify({ events: list });

  it("sums refunded quantities exactly and caps them at the line's quantity", async () => {
    const placed = {
      type: "order.paid",
      externalId: "frac-paid",
      occurredAt: at,
      identities: [{ type: "external", value: "frac-buyer" }],
      payload: { orderId: "FRAC-1", currency: "CNY", total: 3750, items: [{ sku: "RICE", quantity: "1.25", unit: "kg", unitPrice: 3000 }] },
    };
    const refund = (id: string, quantity: string | number, amount: number) => ({
      type: "order.refunded",
      externalId: `frac-refund-${id}`,
      occurredAt: at,
      identities: [],
      payload: { orderId: "FRAC-1", refundId: id, amount, items: [{ sku: "RICE", quantity, amount }] },
    });
    let r = await post("http-json", events([placed, refund("a", 0.1, 300), refund("b", "0.2", 600)]), "application/json");
    expect(r.json.results.map((x: { status: string }) => x.status)).toEqual(["accepted", "accepted", "accepted"]);
    // 0.1 + 0.2 is exactly 0.3 here (a float sum would be 0.30000000000000004).
    expect((await order("FRAC-1")).items).toEqual([{ sku: "RICE", quantity: "1.25", unit: "kg", unitPrice: 3000, refundedQuantity: "0.3" }]);
    r = await post("http-json", events([refund("c", "0.95", 2850), refund("d", 1, 3000)]), "application/json");
    expect(r.json.results.map((x: { status: string }) => x.status)).toEqual(["accepted", "accepted"]);
    // 0.3 + 0.95 + 1 = 2.25 refunded of a 1.25 kg line: counted up to the line.
    expect((await order("FRAC-1")).items[0].refundedQuantity).toBe("1.25");
  });
});
