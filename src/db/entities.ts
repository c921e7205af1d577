import { OutboxRow } from "../events/outbox-entity";
import { Customer, CustomerIdentity } from "../modules/customers/entity";
import { ApiKey, Tenant } from "../modules/tenancy/entity";
import { ChannelConnection } from "../modules/channels/entity";
import { CustomerMerge } from "../modules/customers/merge";
import { CustomerStats, Order, OrderRefund } from "../modules/orders/entity";
import { ImportJob, ImportRowError } from "../modules/imports/entity";
import { IdentityConflict } from "../modules/ingestion/conflict-entity";

/** Every TypeORM entity; migrations/ must create exactly these tables. */
export const entities = [Tenant, ApiKey, Customer, CustomerIdentity, OutboxRow, ChannelConnection, CustomerMerge, Order, OrderRefund, CustomerStats, ImportJob, ImportRowError, IdentityConflict];
