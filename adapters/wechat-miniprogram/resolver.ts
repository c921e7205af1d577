import { Arg, Authorized, Ctx, Field, ID, InputType, Mutation, ObjectType, Resolver } from "type-graphql";
import { pluginRequest, UserError, userError, UserErrorCode } from "../../src/plugins";
import type { WechatMiniProgramConfig } from "./config";
import { bindPhone, CHANNEL, login, type BindPhoneResult, type LoginResult, type WechatErrorCode } from "./service";

/**
 * The adapter's GraphQL operations. Type names are prefixed (Wechat…): they share one schema with
 * the core, and answer with its `UserError` (WeChat's errcode is in the message).
 */

@InputType()
export class WechatMiniProgramLoginInput {
  @Field(() => ID, { description: "The wechat-miniprogram channel connection." })
  connectionId: string;

  @Field(() => String, { description: "The code from wx.login() in the mini program." })
  code: string;
}

@ObjectType()
export class WechatMiniProgramLoginPayload {
  @Field(() => ID, { nullable: true, description: "The customer this WeChat user is (created on first login)." })
  customerId: string | null;

  @Field(() => String, { nullable: true })
  openid: string | null;

  @Field(() => String, { nullable: true, description: "Present when the mini program is bound to a WeChat Open Platform account." })
  unionid: string | null;

  @Field(() => [UserError])
  userErrors: UserError[];
}

@InputType()
export class WechatMiniProgramBindPhoneInput {
  @Field(() => ID)
  connectionId: string;

  @Field(() => ID, { description: "The customerId wechatMiniProgramLogin returned for this user." })
  customerId: string;

  @Field(() => String, { description: "The code from the getPhoneNumber button (not the encryptedData of the old API)." })
  code: string;
}

@ObjectType()
export class WechatMiniProgramBindPhonePayload {
  @Field(() => ID, { nullable: true, description: "The customer now holding the phone (another id when the phone merged two customers)." })
  customerId: string | null;

  @Field(() => [UserError])
  userErrors: UserError[];
}

const userErrors = (errors: { field: string[] | null; code: WechatErrorCode; message: string }[]) =>
  errors.map((e) => userError(e.field, UserErrorCode[e.code], e.message));

@Resolver()
export class WechatMiniProgramResolver {
  @Authorized("ingest")
  @Mutation(() => WechatMiniProgramLoginPayload, {
    description: "Mini-program login: exchanges a wx.login() code with WeChat (jscode2session) and upserts the customer by openid/unionid. WeChat's session_key is never returned nor stored.",
  })
  async wechatMiniProgramLogin(@Arg("input", () => WechatMiniProgramLoginInput) input: WechatMiniProgramLoginInput, @Ctx() ctx: unknown): Promise<WechatMiniProgramLoginPayload> {
    const r: LoginResult = await login(pluginRequest<WechatMiniProgramConfig>(ctx, CHANNEL), input);
    return Object.assign(new WechatMiniProgramLoginPayload(), { ...r, userErrors: userErrors(r.userErrors) });
  }

  @Authorized("ingest")
  @Mutation(() => WechatMiniProgramBindPhonePayload, {
    description: "Attaches the phone number WeChat verified (getPhoneNumber code) to a customer who logged in with wechatMiniProgramLogin; may merge customers who share the phone.",
  })
  async wechatMiniProgramBindPhone(
    @Arg("input", () => WechatMiniProgramBindPhoneInput) input: WechatMiniProgramBindPhoneInput,
    @Ctx() ctx: unknown,
  ): Promise<WechatMiniProgramBindPhonePayload> {
    const r: BindPhoneResult = await bindPhone(pluginRequest<WechatMiniProgramConfig>(ctx, CHANNEL), input);
    return Object.assign(new WechatMiniProgramBindPhonePayload(), { ...r, userErrors: userErrors(r.userErrors) });
  }
}
