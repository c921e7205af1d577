import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import { Field, ObjectType, registerEnumType } from "type-graphql";
import { GraphQLJSONObject, GraphQLLocalDate } from "graphql-scalars";
import { Node } from "../../core/node";
import { toGlobalId } from "../../core/global-id";
import { encryptedText } from "../../db/encrypted-columns";
import { identityTypeEnum } from "../../plugins/identity";
import type { IdentityTypeName } from "./normalize";
import { Consent, ConsentChannel, isMarketing, type StoredConsent } from "./consent";

export { ConsentChannel };

export enum Gender {
  MALE = "MALE",
  FEMALE = "FEMALE",
  UNKNOWN = "UNKNOWN",
}
registerEnumType(Gender, { name: "Gender" });

/**
 * GraphQL enum in ALL_CAPS (`WECHAT_UNIONID`, …) whose internal values are the stored identity type names
 * (`wechat_unionid`), as normalized events spell them: resolvers and services see the lowercase names.
 */
export const IdentityType = identityTypeEnum; // plugins' identity types join it when they are defined
registerEnumType(IdentityType, {
  name: "IdentityType",
  description: "How a channel knows a customer. `WECHAT_OPENID` is per app (weak); the others identify a person. Normalized events spell them in lower case (`wechat_unionid`).",
});


@ObjectType({ description: "Whether the customer agreed to marketing on one channel, and when that was last said." })
export class MarketingConsent {
  @Field(() => ConsentChannel) channel: ConsentChannel;
  @Field(() => Boolean) granted: boolean;
  @Field(() => Date) updatedAt: Date;
}

@ObjectType()
export class Region {
  @Field(() => String, { nullable: true, description: "ISO 3166-1 alpha-2, e.g. CN." }) country: string | null;
  @Field(() => String, { nullable: true }) province: string | null;
  @Field(() => String, { nullable: true }) city: string | null;
}


@Entity({ name: "customers" })
@ObjectType("Customer", { implements: Node, description: "One person, unified across every channel that knows them." })
export class Customer implements Node {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  tenantId: string;

  @Field(() => String, { description: "Empty when no channel told us a name." })
  @Column({ type: "text", default: "" })
  displayName: string;

  @Field(() => Gender)
  @Column({ type: "text", default: Gender.UNKNOWN })
  gender: Gender;

  /** YYYY-MM-DD, encrypted at rest. Served by CustomerResolver (masked by scope). */
  @Column({ type: "text", nullable: true, transformer: encryptedText })
  birthday: string | null;

  @Field(() => String, { nullable: true, description: "BCP 47 language tag, e.g. zh-CN." })
  @Column({ type: "text", nullable: true })
  locale: string | null;

  @Column({ type: "text", nullable: true })
  country: string | null;

  @Column({ type: "text", nullable: true })
  province: string | null;

  @Column({ type: "text", nullable: true })
  city: string | null;

  /** Primary phone, E.164, encrypted at rest (found through `phoneIndex`). Served by CustomerResolver (masked by scope). */
  @Column({ type: "text", nullable: true, transformer: encryptedText })
  phone: string | null;

  /** Primary e-mail, trimmed and lower-cased, encrypted at rest (found through `emailIndex`). Served by CustomerResolver (masked by scope). */
  @Column({ type: "text", nullable: true, transformer: encryptedText })
  email: string | null;

  /** The birthday's year, plain (segments' `age`, insights' age bands); derived wherever the birthday is written (blind.ts `indexContacts`). */
  @Column({ type: "smallint", nullable: true, select: false }) birthYear?: number | null;

  /** Blind indexes of phone, e-mail and the phone's last four digits (blind.ts); written, never read back. */
  @Column({ type: "bytea", nullable: true, select: false }) phoneIndex?: Buffer | null;
  @Column({ type: "bytea", nullable: true, select: false }) emailIndex?: Buffer | null;
  @Column({ type: "bytea", nullable: true, select: false }) phoneLast4Index?: Buffer | null;

  @Field(() => [String])
  @Column({ type: "text", array: true, default: () => "'{}'" })
  tags: string[];

  @Field(() => GraphQLJSONObject, { description: "Free-form attributes (JSON object)." })
  @Column({ type: "jsonb", default: () => "'{}'" })
  attributes: Record<string, unknown>;

  @Column({ type: "jsonb", name: "marketing_consent", default: () => "'[]'" })
  consent: StoredConsent[];

  /** When each profile field was last set by a channel event (ISO strings); out-of-order events lose to newer ones. */
  @Column({ type: "jsonb", default: () => "'{}'" })
  fieldTimes: Record<string, string>;

  @Field(() => Date)
  @Column({ type: "timestamptz", precision: 3 })
  createdAt: Date;

  @Field(() => Date, { description: "When the profile (fields, tags, identities, consent) last changed. A mere sighting — an order of a known customer — moves only lastSeenAt." })
  @Column({ type: "timestamptz", precision: 3 })
  updatedAt: Date;

  @Field(() => Date, { description: "When any channel first saw this customer." })
  @Column({ type: "timestamptz", precision: 3 })
  firstSeenAt: Date;

  @Field(() => Date, { description: "When any channel last saw this customer." })
  @Column({ type: "timestamptz", precision: 3 })
  lastSeenAt: Date;

  get globalId(): string {
    return toGlobalId("Customer", this.id);
  }

  @Field(() => Region, { nullable: true })
  get region(): Region | null {
    if (!this.country && !this.province && !this.city) return null;
    return Object.assign(new Region(), { country: this.country, province: this.province, city: this.city });
  }

  @Field(() => [MarketingConsent], { description: "Marketing consent per channel (the MARKETING entries of `consents`)." })
  get marketingConsent(): MarketingConsent[] {
    return (this.consent ?? []).filter(isMarketing).map((c) =>
      Object.assign(new MarketingConsent(), { channel: c.channel, granted: c.granted, updatedAt: new Date(c.updatedAt) }),
    );
  }

  @Field(() => [Consent], { description: "Every consent the person gave or withdrew, per purpose (and channel, for marketing): the current word on each. Those never asked are absent." })
  get consents(): Consent[] {
    return (this.consent ?? []).map(Consent.of);
  }
}

@Entity({ name: "customer_identities" })
@ObjectType("CustomerIdentity", { implements: Node, description: "A key a channel knows the customer by." })
export class CustomerIdentity implements Node {
  @PrimaryGeneratedColumn("uuid")
  id: string;

  @Column({ type: "uuid" })
  tenantId: string;

  @Column({ type: "uuid" })
  customerId: string;

  @Field(() => IdentityType)
  @Column({ type: "text" })
  type: IdentityTypeName;

  /** Encrypted at rest (found through `valueIndex`). Served by CustomerIdentityResolver (masked by scope). */
  @Column({ type: "text", transformer: encryptedText })
  value: string;

  /** The blind index of type and value (blind.ts): what lookups and the uniqueness per tenant go by. */
  @Column({ type: "bytea", nullable: true, select: false }) valueIndex?: Buffer | null;

  @Field(() => String, { nullable: true, description: "Channel that first reported it (null when entered through the API)." })
  @Column({ type: "text", nullable: true })
  sourceChannel: string | null;

  @Field(() => Date)
  @Column({ type: "timestamptz", precision: 3 })
  firstSeenAt: Date;

  @Field(() => Date)
  @Column({ type: "timestamptz", precision: 3 })
  lastSeenAt: Date;

  get globalId(): string {
    return toGlobalId("CustomerIdentity", this.id);
  }
}
