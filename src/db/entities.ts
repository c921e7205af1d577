import { OutboxRow } from "../events/outbox-entity";
import { Customer, CustomerIdentity } from "../modules/customers/entity";
import { ApiKey, Tenant } from "../modules/tenancy/entity";

/** Every TypeORM entity; migrations/ must create exactly these tables. */
export const entities = [Tenant, ApiKey, Customer, CustomerIdentity, OutboxRow];
