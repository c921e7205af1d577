import { Column, Entity, PrimaryGeneratedColumn } from "typeorm";
import { Field, ID, InputType, ObjectType, registerEnumType } from "type-graphql";
import { tenantOf, type TxCtx } from "../../core/context";
import { userError, UserErrorCode, type UserError } from "../../core/user-error";
import { actorOf } from "./erasure";
import type { Customer } from "./entity";

export enum ConsentChannel {
  SMS = "SMS",
  EMAIL = "EMAIL",
  WECHAT = "WECHAT",
  PHONE_CALL = "PHONE_CALL",
  PUSH = "PUSH",
}
registerEnumType(ConsentChannel, { name: "ConsentChannel", description: "Channels a customer can allow or refuse marketing on." });

/**
 * Consent per purpose (PIPL arts. 14, 29, 39; GDPR art. 7): marketing, per channel; and the separate consents
 * PIPL requires for processing sensitive personal information and for transferring data abroad. The current
 * state lives on the profile (`customers.marketing_consent`, read by every sender with the customer: a
 * withdrawal is in effect as soon as it commits); every statement is also kept in `consent_records` — who said
 * it, through what, to which text version — as the proof of consent PIPL asks the merchant to keep.
 */
export enum ConsentPurpose {
  MARKETING = "MARKETING",
  SENSITIVE_DATA = "SENSITIVE_DATA",
  CROSS_BORDER_TRANSFER = "CROSS_BORDER_TRANSFER",
}
registerEnumType(ConsentPurpose, {
  name: "ConsentPurpose",
  description:
    "What a consent is for: `MARKETING` (per channel), `SENSITIVE_DATA` (PIPL art. 29: separate consent to process sensitive personal information) and `CROSS_BORDER_TRANSFER` (PIPL art. 39: separate consent to send personal data abroad, e.g. a CRM sync to a data centre outside China).",
});

/** As stored on the profile; entries without `purpose` are marketing ones (written before purposes existed). */
export interface StoredConsent {
  purpose?: ConsentPurpose;
  channel?: ConsentChannel | null;
  granted: boolean;
  updatedAt: string;
  source?: string | null;
  textVersion?: string | null;
}

/** The key one consent is kept under: purpose and, for marketing, channel. */
export const consentKey = (c: Pick<StoredConsent, "purpose" | "channel">) => `${c.purpose ?? ConsentPurpose.MARKETING}:${c.channel ?? ""}`;
export const isMarketing = (c: StoredConsent) => (c.purpose ?? ConsentPurpose.MARKETING) === ConsentPurpose.MARKETING;

/** Sorted by key, one entry per key: the profile's consent list in its stored order. */
export function sortConsents(list: Iterable<StoredConsent>): StoredConsent[] {
  return [...list].sort((a, b) => consentKey(a).localeCompare(consentKey(b)));
}

@ObjectType({ description: "The customer's current word on one purpose (and, for marketing, one channel)." })
export class Consent {
  @Field(() => ConsentPurpose) purpose: ConsentPurpose;
  @Field(() => ConsentChannel, { nullable: true, description: "For MARKETING: the channel. Null for the other purposes." }) channel: ConsentChannel | null;
  @Field(() => Boolean) granted: boolean;
  @Field(() => String, { nullable: true, description: "Through what it was said: e.g. `wechat-miniprogram:privacy-popup`, `store:HZ01`, `updateCustomer`." }) source: string | null;
  @Field(() => String, { nullable: true, description: "The version of the text the person agreed to (privacy policy, consent form); null for withdrawals and older records." })
  textVersion: string | null;
  @Field(() => Date) updatedAt: Date;

  static of(c: StoredConsent): Consent {
    return Object.assign(new Consent(), {
      purpose: c.purpose ?? ConsentPurpose.MARKETING,
      channel: c.channel ?? null,
      granted: c.granted,
      source: c.source ?? null,
      textVersion: c.textVersion ?? null,
      updatedAt: new Date(c.updatedAt),
    });
  }
}

/** Every consent statement, kept as proof (removed only with the person, by erasure). */
@Entity({ name: "consent_records" })
export class ConsentRecord {
  @PrimaryGeneratedColumn("uuid") id: string;
  @Column({ type: "uuid" }) tenantId: string;
  @Column({ type: "uuid" }) customerId: string;
  @Column({ type: "text" }) purpose: ConsentPurpose;
  @Column({ type: "text", nullable: true }) channel: ConsentChannel | null;
  @Column({ type: "boolean" }) granted: boolean;
  @Column({ type: "text", nullable: true }) source: string | null;
  @Column({ type: "text", nullable: true }) textVersion: string | null;
  @Column({ type: "text" }) actor: string;
  @Column({ type: "timestamptz", precision: 3 }) at: Date;
}

@InputType()
export class GrantConsentInput {
  @Field(() => ID) customerId: string;
  @Field(() => ConsentPurpose) purpose: ConsentPurpose;
  @Field(() => ConsentChannel, { nullable: true, description: "Required for MARKETING; not given for the other purposes." }) channel?: ConsentChannel | null;
  @Field(() => String, { description: "Through what the person said it (at most 100 characters), e.g. `wechat-miniprogram:privacy-popup`." }) source: string;
  @Field(() => String, { description: "The version of the text they agreed to (at most 100 characters), e.g. `privacy-2026-10`." }) textVersion: string;
}

@InputType()
export class WithdrawConsentInput {
  @Field(() => ID) customerId: string;
  @Field(() => ConsentPurpose) purpose: ConsentPurpose;
  @Field(() => ConsentChannel, { nullable: true, description: "Required for MARKETING; not given for the other purposes." }) channel?: ConsentChannel | null;
  @Field(() => String, { description: "Through what the person said it (at most 100 characters), e.g. `sms:reply-TD`, `service-hotline`." }) source: string;
}

/** Checks a grant's or withdrawal's fields; the statement to store, or the errors. */
export function validateConsent(input: GrantConsentInput | WithdrawConsentInput, granted: boolean): { statement?: Omit<StoredConsent, "updatedAt">; errors: UserError[] } {
  const errors: UserError[] = [];
  const channel = input.channel ?? null;
  if (input.purpose === ConsentPurpose.MARKETING && !channel) errors.push(userError(["channel"], UserErrorCode.REQUIRED, "Marketing consent is per channel: give the channel"));
  if (input.purpose !== ConsentPurpose.MARKETING && channel) errors.push(userError(["channel"], UserErrorCode.INVALID, `${input.purpose} consent is not per channel: give none`));
  const text = (field: "source" | "textVersion", v: string | undefined) => {
    const s = (v ?? "").trim();
    if (!s) errors.push(userError([field], UserErrorCode.REQUIRED, field === "source" ? "Say through what the person said it" : "Name the version of the text the person agreed to"));
    else if (s.length > 100) errors.push(userError([field], UserErrorCode.TOO_LONG, "At most 100 characters"));
    return s;
  };
  const source = text("source", input.source);
  const textVersion = granted ? text("textVersion", (input as GrantConsentInput).textVersion) : null;
  if (errors.length) return { errors };
  return { statement: { purpose: input.purpose, channel, granted, source, textVersion }, errors };
}

/** Appends the statements to the proof of consent, in `tx`. */
export async function recordConsents(tx: TxCtx, customerId: string, statements: StoredConsent[]): Promise<void> {
  if (!statements.length) return;
  await tx.manager.insert(
    ConsentRecord,
    statements.map((s) => ({
      tenantId: tenantOf(tx),
      customerId,
      purpose: s.purpose ?? ConsentPurpose.MARKETING,
      channel: s.channel ?? null,
      granted: s.granted,
      source: s.source ?? null,
      textVersion: s.textVersion ?? null,
      actor: actorOf(tx.principal),
      at: new Date(s.updatedAt),
    })),
  );
}

/** The customer's consents with `statement` applied; null when it changes nothing (the same word, already given). */
export function withConsent(customer: Customer, statement: StoredConsent): StoredConsent[] | null {
  const current = new Map(customer.consent.map((c) => [consentKey(c), c]));
  const prev = current.get(consentKey(statement));
  if (prev && prev.granted === statement.granted && (prev.textVersion ?? null) === (statement.textVersion ?? null)) return null;
  current.set(consentKey(statement), statement);
  return sortConsents(current.values());
}
