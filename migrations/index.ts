import { Foundation1764310000000 } from "./1764310000000-foundation";
import { Ingestion1764320000000 } from "./1764320000000-ingestion";
import { Orders1764330000000 } from "./1764330000000-orders";
import { Imports1764340000000 } from "./1764340000000-imports";
import { OutboxLease1764350000000 } from "./1764350000000-outbox-lease";
import { OutboxDelivery1764360000000 } from "./1764360000000-outbox-delivery";
import { OrderFieldStamps1764370000000 } from "./1764370000000-order-field-stamps";
import { IngestedEventsKeptIndex1764380000000 } from "./1764380000000-ingested-events-kept-index";
import { ExportRetention1764400000000 } from "./1764400000000-export-retention";
import { ConflictResolution1764410000000 } from "./1764410000000-conflict-resolution";
import { ConflictList1764420000000 } from "./1764420000000-conflict-list";
import { OrdersByTotal1764430000000 } from "./1764430000000-orders-by-total";

/**
 * Every migration, in order. `npm run migration:generate -- migrations/<name>` writes a new file;
 * add its class here (an explicit list works the same from ts sources and the compiled build).
 */
export const migrations = [
  Foundation1764310000000,
  Ingestion1764320000000,
  Orders1764330000000,
  Imports1764340000000,
  OutboxLease1764350000000,
  OutboxDelivery1764360000000,
  OrderFieldStamps1764370000000,
  IngestedEventsKeptIndex1764380000000,
  ExportRetention1764400000000,
  ConflictResolution1764410000000,
  ConflictList1764420000000,
  OrdersByTotal1764430000000,
];
