import { GrantConsentInput, WithdrawConsentInput } from "./consent";
import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from "type-graphql";
import { GraphQLLocalDate } from "graphql-scalars";
import type { RequestCtx } from "../../core/context";
import { notePersonalDataServed } from "../../core/audit";
import { localId } from "../../core/global-id";
import { ConnectionArgs } from "../../core/pagination";
import { toPayload } from "../../core/payload";
import { registerNodeType } from "../../core/node";
import { Customer, CustomerIdentity, IdentityType } from "./entity";
import {
  AddCustomerTagsPayload,
  AttachCustomerIdentityInput,
  AttachCustomerIdentityPayload,
  CreateCustomerInput,
  CreateCustomerPayload,
  CustomerFilter,
  CustomerOrder,
  CustomerTagsInput,
  DeleteCustomerInput,
  DeleteCustomerPayload,
  EraseCustomerInput,
  EraseCustomerPayload,
  ConsentPayload,
  ExportCustomerDataInput,
  ExportCustomerDataPayload,
  DetachCustomerIdentityInput,
  DetachCustomerIdentityPayload,
  RemoveCustomerTagsPayload,
  UpdateCustomerInput,
  UpdateCustomerPayload,
 CustomerConnection,
} from "./inputs";
import { maskEmail, maskIdentityValue, maskPhone, seesPii } from "./masking";
import type { IdentityTypeName } from "./normalize";

/**
 * Whether a personal value goes out as stored; an unmasked one given to an API key is noted for the audit log
 * (the system's reads — pipelines, plugins — are not personal-data reads by staff).
 */
function unmasked(ctx: RequestCtx, customerId: string, value: unknown): boolean {
  if (!seesPii(ctx.principal)) return false;
  if (value != null && ctx.principal.kind === "api_key") notePersonalDataServed(ctx, customerId);
  return true;
}

registerNodeType("Customer", "customers:read", (ctx, id) => ctx.loaders.customers.byId.load(id));
registerNodeType("CustomerIdentity", "customers:read", (ctx, id) => ctx.app.customers.identityById(ctx, id));

const READ = "customers:read";
const WRITE = "customers:write";

@Resolver(() => Customer)
export class CustomerResolver {
  @Authorized(READ)
  @Query(() => Customer, { nullable: true, description: "A customer by global id; null when there is none for your tenant." })
  customer(@Arg("id", () => ID) id: string, @Ctx() ctx: RequestCtx): Promise<Customer | null> | null {
    const local = localId(id, "Customer");
    return local ? ctx.loaders.customers.byId.load(local) : null;
  }

  @Authorized(READ)
  @Query(() => CustomerConnection)
  customers(
    @Args(() => ConnectionArgs) page: ConnectionArgs,
    @Arg("filter", () => CustomerFilter, { nullable: true }) filter: CustomerFilter | null,
    @Arg("orderBy", () => CustomerOrder, { nullable: true, description: "Default: newest first." }) orderBy: CustomerOrder | null,
    @Ctx() ctx: RequestCtx,
  ) {
    return ctx.app.customers.list(ctx, filter, orderBy, page);
  }

  @Authorized(READ)
  @Query(() => Customer, { nullable: true, description: "The customer an identity belongs to. Phones and e-mails may be given in any common format." })
  customerByIdentity(
    @Arg("type", () => IdentityType) type: IdentityTypeName,
    @Arg("value", () => String) value: string,
    @Ctx() ctx: RequestCtx,
  ): Promise<Customer | null> {
    return ctx.app.customers.findByIdentity(ctx, type, value);
  }

  @FieldResolver(() => [CustomerIdentity])
  identities(@Root() customer: Customer, @Ctx() ctx: RequestCtx): Promise<CustomerIdentity[]> {
    return ctx.loaders.customers.identities.load(customer.id);
  }

  @FieldResolver(() => String, { nullable: true, description: "Primary phone, E.164; masked (`138****8000`) for keys without `customers:pii`." })
  phone(@Root() customer: Customer, @Ctx() ctx: RequestCtx): string | null {
    return unmasked(ctx, customer.id, customer.phone) ? customer.phone : maskPhone(customer.phone);
  }

  @FieldResolver(() => String, { nullable: true, description: "Primary e-mail, trimmed and lower-cased; masked (`w***@example.cn`) for keys without `customers:pii`." })
  email(@Root() customer: Customer, @Ctx() ctx: RequestCtx): string | null {
    return unmasked(ctx, customer.id, customer.email) ? customer.email : maskEmail(customer.email);
  }

  @FieldResolver(() => GraphQLLocalDate, { nullable: true, description: "Null for keys without `customers:pii`, which still get `birthMonthDay`." })
  birthday(@Root() customer: Customer, @Ctx() ctx: RequestCtx): string | null {
    return unmasked(ctx, customer.id, customer.birthday) ? customer.birthday : null;
  }

  @FieldResolver(() => String, { nullable: true, description: "Month and day of the birthday (`MM-DD`), for every key that reads customers: what birthday care needs, without the year." })
  birthMonthDay(@Root() customer: Customer): string | null {
    return customer.birthday ? customer.birthday.slice(5, 10) : null;
  }

  @FieldResolver(() => Boolean, { description: "Whether personal values (phone, e-mail, birthday, identity values) are masked for this key: it lacks `customers:pii`." })
  piiMasked(@Ctx() ctx: RequestCtx): boolean {
    return !seesPii(ctx.principal);
  }

  @Authorized("admin")
  @Mutation(() => ExportCustomerDataPayload, { description: "One JSON document with everything held about a person (their right to a copy). Scope `admin`." })
  async exportCustomerData(@Arg("input", () => ExportCustomerDataInput) input: ExportCustomerDataInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.customers.exportPersonalData(ctx, input.customerId);
    return toPayload(ExportCustomerDataPayload, result, (document) => ({ document }), { document: null });
  }

  @Authorized("admin")
  @Mutation(() => EraseCustomerPayload, {
    description:
      "Erases a person's data for good (their right to deletion; irreversible). Scope `admin`. The profile, its identities and every copy modules keep go — ingested events, merge records, conflicts, plugins' state through `customer.erased`; orders stay, unlinked, so revenue and counts do not change. A returning person becomes a new customer. Merges that involved the person can no longer be undone.",
  })
  async eraseCustomer(@Arg("input", () => EraseCustomerInput) input: EraseCustomerInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.customers.erase(ctx, input.customerId, input.reason);
    return toPayload(EraseCustomerPayload, result, (erasure) => ({ erasure }), { erasure: null });
  }

  @Authorized(WRITE)
  @Mutation(() => ConsentPayload, {
    description: "The person consents, for one purpose (and channel, for marketing), to a version of the text: in force at once, kept as proof (source, text version, who recorded it, when). Scope `customers:write`.",
  })
  async grantConsent(@Arg("input", () => GrantConsentInput) input: GrantConsentInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.customers.changeConsent(ctx, input, true);
    return toPayload(ConsentPayload, result, (customer) => ({ customer }), { customer: null });
  }

  @Authorized(WRITE)
  @Mutation(() => ConsentPayload, { description: "The person withdraws a consent: in force at once for every sender, kept as proof. Scope `customers:write`." })
  async withdrawConsent(@Arg("input", () => WithdrawConsentInput) input: WithdrawConsentInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.customers.changeConsent(ctx, input, false);
    return toPayload(ConsentPayload, result, (customer) => ({ customer }), { customer: null });
  }

  @Authorized(WRITE)
  @Mutation(() => CreateCustomerPayload)
  async createCustomer(@Arg("input", () => CreateCustomerInput) input: CreateCustomerInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.customers.create(ctx, input);
    return toPayload(CreateCustomerPayload, result, (customer) => ({ customer }), { customer: null });
  }

  @Authorized(WRITE)
  @Mutation(() => UpdateCustomerPayload, { description: "Omitted fields stay as they are; null clears a field." })
  async updateCustomer(@Arg("input", () => UpdateCustomerInput) input: UpdateCustomerInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.customers.update(ctx, input);
    return toPayload(UpdateCustomerPayload, result, (customer) => ({ customer }), { customer: null });
  }

  @Authorized(WRITE)
  @Mutation(() => DeleteCustomerPayload, { description: "Deletes the customer: an erasure (reason `deleteCustomer`) — the profile, identities and every copy of their data go, as with `eraseCustomer`; orders stay, unlinked." })
  async deleteCustomer(@Arg("input", () => DeleteCustomerInput) input: DeleteCustomerInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.customers.delete(ctx, input.id);
    return toPayload(DeleteCustomerPayload, result, (deletedCustomerId) => ({ deletedCustomerId }), { deletedCustomerId: null });
  }

  @Authorized(WRITE)
  @Mutation(() => AddCustomerTagsPayload)
  async addCustomerTags(@Arg("input", () => CustomerTagsInput) input: CustomerTagsInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.customers.changeTags(ctx, input.id, input.tags, "add");
    return toPayload(AddCustomerTagsPayload, result, (customer) => ({ customer }), { customer: null });
  }

  @Authorized(WRITE)
  @Mutation(() => RemoveCustomerTagsPayload)
  async removeCustomerTags(@Arg("input", () => CustomerTagsInput) input: CustomerTagsInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.customers.changeTags(ctx, input.id, input.tags, "remove");
    return toPayload(RemoveCustomerTagsPayload, result, (customer) => ({ customer }), { customer: null });
  }

  @Authorized(WRITE)
  @Mutation(() => AttachCustomerIdentityPayload, { description: "Idempotent for an identity the customer has already." })
  async attachCustomerIdentity(@Arg("input", () => AttachCustomerIdentityInput) input: AttachCustomerIdentityInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.customers.attachIdentity(ctx, input);
    return toPayload(AttachCustomerIdentityPayload, result, (r) => ({ customer: r.customer, identity: r.identity }), { customer: null, identity: null });
  }

  @Authorized(WRITE)
  @Mutation(() => DetachCustomerIdentityPayload)
  async detachCustomerIdentity(@Arg("input", () => DetachCustomerIdentityInput) input: DetachCustomerIdentityInput, @Ctx() ctx: RequestCtx) {
    const result = await ctx.app.customers.detachIdentity(ctx, input);
    return toPayload(DetachCustomerIdentityPayload, result, (customer) => ({ customer }), { customer: null });
  }
}

@Resolver(() => CustomerIdentity)
export class CustomerIdentityResolver {
  @FieldResolver(() => String, { description: "The identifier as the channel knows it; masked for keys without `customers:pii` (phones and e-mails as on Customer, others to their first and last two characters)." })
  value(@Root() identity: CustomerIdentity, @Ctx() ctx: RequestCtx): string {
    return unmasked(ctx, identity.customerId, identity.value) ? identity.value : maskIdentityValue(identity.type, identity.value);
  }
}
