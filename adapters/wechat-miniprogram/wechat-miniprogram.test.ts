import { createDecipheriv, randomBytes } from "node:crypto";
import fc from "fast-check";

import { NormalizationError, VerificationError, type ChannelConnectionInfo, type ChannelRequest } from "../../src/plugins";
import { adapterConformance, buildConnection, channelRequest, checkAuthenticGarbage, partBetween, testPluginContext, type SignedPartIntegrity } from "../../src/plugins/testing";
import {
  aesCbcRaw,
  envelopeEncrypt,
  framed,
  pkcs7,
  plainPush,
  safePush,
  sample,
  sha1Signature,
  wechatEncrypt,
  type Push,
  type WechatApp,
} from "../../test/fixtures/wechat-miniprogram/sender";
import {
  aesKey,
  customerGlobalId,
  customerUuid,
  decryptMessage,
  encryptMessage,
  quoteBigIntegers,
  wechatMiniProgramPlugin as plugin,
  wechatSignature,
  type WechatMiniProgramConfig,
} from "./index";

const APP: WechatApp = { appId: "wx5f8d3c2b1a0e9f47", token: "Xh7qT2mP9vKc", encodingAesKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" };
const CONFIG = { ...APP, appSecret: "7c1e2d9a4b6f80e3c5d7a9b1f3e5c7d9" };
const OPENID = "oQ7x45Jq3bS8vTz1mNcR9pLkW2dE";

const asRequest = (push: Push, receivedAt?: Date): ChannelRequest =>
  channelRequest({ query: push.query, body: push.body, headers: { "content-type": "text/xml" }, receivedAt });
const plain = (name: string, app: Pick<WechatApp, "token"> = APP) => asRequest(plainPush(app, sample(name)));
const safe = (name: string, app: WechatApp = APP, opts: Parameters<typeof safePush>[2] = {}) => asRequest(safePush(app, sample(name), opts));
const configOf = (c: ChannelConnectionInfo<WechatMiniProgramConfig>): WechatApp => ({
  appId: c.config.appId,
  token: c.config.token,
  encodingAesKey: c.config.encodingAesKey!,
});

/** Safe mode's signed part: the Encrypt value, which msg_signature covers; the envelope around it is not signed. */
const encryptSigned: SignedPartIntegrity = {
  signedPart: (body) => (body.includes("<Encrypt>") ? partBetween(body, "<Encrypt><![CDATA[", "]]>") : partBetween(body, '"Encrypt":"', '"')),
};

// 1. The conformance kit. WeChat signs the query, not the body: plain mode proves the sender knows
// the token (signature over token, timestamp, nonce), so it is checked as a "credential" channel;
// safe mode adds the ciphertext (msg_signature over … and Encrypt) but not the envelope's other
// bytes — a space added after </xml> is still the same authentic push — so its fixtures name the
// Encrypt value as their signed part. The tests further down flip every byte of a signed Encrypt too.
adapterConformance(plugin, {
  connection: { config: CONFIG, name: "西湖茶庄小程序" },
  integrity: "credential",
  valid: [
    { name: "plain XML text", request: (c) => plain("text.xml", configOf(c)), types: ["message.received"] },
    { name: "plain JSON text with a MsgId beyond 2^64", request: (c) => plain("text.json", configOf(c)), types: ["message.received"] },
    { name: "safe XML text", request: (c) => safe("text.xml", configOf(c)), types: ["message.received"], integrity: encryptSigned },
    { name: "safe JSON text", request: (c) => safe("text.json", configOf(c)), types: ["message.received"], integrity: encryptSigned },
    { name: "safe XML image", request: (c) => safe("image.xml", configOf(c)), types: ["message.received"], integrity: encryptSigned },
    { name: "safe JSON mini-program card", request: (c) => safe("miniprogrampage.json", configOf(c)), types: ["message.received"], integrity: encryptSigned },
    { name: "plain XML user_enter_tempsession", request: (c) => plain("user-enter-tempsession.xml", configOf(c)), types: ["message.received"] },
    { name: "safe XML voice (acknowledged, no event)", request: (c) => safe("voice.xml", configOf(c)), types: [], integrity: encryptSigned },
  ],
  invalid: [
    { name: "plain, wrong token", request: () => plain("text.xml", { token: "anotherToken1" }), expect: 401, reason: "signature does not match" },
    { name: "safe, wrong token", request: (c) => safe("text.xml", { ...configOf(c), token: "anotherToken1" }), expect: 401, reason: "msg_signature does not match" },
    { name: "safe, wrong EncodingAESKey", request: (c) => safe("text.xml", { ...configOf(c), encodingAesKey: "Z".repeat(43) }), expect: 401, reason: "cannot decrypt" },
    { name: "safe, another app id", request: (c) => safe("text.xml", configOf(c), { appId: "wx0000000000000000" }), expect: 401, reason: "another app id" },
    {
      name: "stale timestamp",
      request: (c) => asRequest(plainPush(configOf(c), sample("text.xml"), { timestamp: String(Math.floor(Date.now() / 1000) - 301) })),
      expect: 401,
      reason: "stale timestamp",
    },
    { name: "malformed XML", request: (c) => plain("malformed.xml", configOf(c)), expect: 400, reason: "malformed XML" },
    { name: "text without FromUserName", request: (c) => safe("text-without-sender.xml", configOf(c)), expect: 400, reason: "FromUserName: required" },
  ],
  handshakes: [
    {
      name: "URL verification",
      request: (c) => channelRequest({ method: "GET", query: { ...plainPush(configOf(c), "").query, echostr: "6584396170593459285" } }),
      status: 200,
      body: "6584396170593459285",
    },
    {
      name: "URL verification in safe mode (encrypted echostr)",
      request: (c) => {
        const echostr = wechatEncrypt(c.config.encodingAesKey!, c.config.appId, "7044815562935261330");
        const q = plainPush(configOf(c), "").query;
        return channelRequest({ method: "GET", query: { ...q, echostr, msg_signature: sha1Signature([c.config.token, q.timestamp, q.nonce, echostr]) } });
      },
      status: 200,
      body: "7044815562935261330",
    },
    { name: "URL verification with a wrong signature", request: () => channelRequest({ method: "GET", query: { ...plainPush({ token: "notOurToken" }, "").query, echostr: "1" } }), status: 401 },
  ],
  // Authentic safe-mode pushes around any body: random and mutated messages reach decryption and
  // normalize, which must answer with events or NormalizationError only.
  authenticRequest: (body, c) => asRequest(safePush(configOf(c), body, { format: "xml" })),
});

// 2. The adapter's own rules.
describe("wechat-miniprogram adapter", () => {
  let connection: ChannelConnectionInfo<WechatMiniProgramConfig>;
  beforeAll(async () => {
    connection = await buildConnection(plugin, { config: CONFIG });
  });
  const channel = plugin.channel!;
  const verify = (req: ChannelRequest, ctx = testPluginContext<WechatMiniProgramConfig>(), conn = connection) =>
    Promise.resolve().then(() => channel.verify(req, conn, ctx));
  const normalize = (payload: unknown) => Promise.resolve().then(() => channel.normalize(payload, connection));
  const refusal = async (req: ChannelRequest, ctx = testPluginContext<WechatMiniProgramConfig>()) => {
    const e = await verify(req, ctx).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(VerificationError);
    return (e as Error).message;
  };

  describe("configuration", () => {
    it("defaults apiBase and the timestamp window, and keeps every secret out of the API", async () => {
      expect(connection.config.apiBase).toBe("https://api.weixin.qq.com");
      expect(connection.config.timestampToleranceSeconds).toBe(300);
      expect(plugin.secretKeys).toEqual(["appSecret", "token", "encodingAesKey"]);
      // The host parses the stored (already parsed) config again: that must change nothing.
      expect(plugin.configSchema!.parse(connection.config)).toEqual(connection.config);
    });

    it.each([
      ["an AppID that is not wx + 16 characters", { appId: "1234" }, "appId"],
      ["a token with punctuation", { token: "to ken!" }, "token"],
      ["a short EncodingAESKey", { encodingAesKey: "abc" }, "encodingAesKey"],
      ["an apiBase that is not http(s)", { apiBase: "ftp://api.weixin.qq.com" }, "apiBase"],
    ])("refuses %s", (_name, patch, key) => {
      const r = plugin.configSchema!.safeParse({ ...CONFIG, ...patch });
      expect(r.success).toBe(false);
      expect(r.error!.issues[0].path).toEqual([key]);
    });

    it("accepts a plain-mode connection without EncodingAESKey and trims a trailing slash from apiBase", () => {
      const { encodingAesKey: _omit, ...rest } = CONFIG;
      const r = plugin.configSchema!.parse({ ...rest, apiBase: "http://127.0.0.1:9000/" });
      expect(r.encodingAesKey).toBeUndefined();
      expect(r.apiBase).toBe("http://127.0.0.1:9000");
    });
  });

  describe("published vectors", () => {
    const getWith = async (token: string, query: Record<string, string>) => {
      const conn = await buildConnection(plugin, { config: { ...CONFIG, token } });
      return channel.handshake!(channelRequest({ method: "GET", query }), conn, testPluginContext());
    };

    it.each([
      ["AAAAA", "1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"],
      ["test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"],
    ])("answers the URL check of token %s with echostr, and refuses its signature under another token", async (token, timestamp, nonce, signature) => {
      expect(wechatSignature(token, timestamp, nonce)).toBe(signature);
      expect(sha1Signature([token, timestamp, nonce])).toBe(signature);
      await expect(getWith(token, { signature, timestamp, nonce, echostr: "5838479218127813673" })).resolves.toEqual({
        status: 200,
        headers: { "content-type": "text/plain; charset=utf-8" },
        body: "5838479218127813673",
      });
      await expect(getWith(`${token}x`, { signature, timestamp, nonce, echostr: "5838479218127813673" })).resolves.toEqual({
        status: 401,
        body: { error: "unauthorized", reason: "signature does not match this connection's token" },
      });
    });

    it("does not echo markup, nor a missing echostr, even to a correctly signed caller", async () => {
      const query = { signature: "f464b24fc39322e44b38aa78f5edd27bd1441696", timestamp: "1714036504", nonce: "1514711492" };
      await expect(getWith("AAAAA", { ...query, echostr: "<script>alert(1)</script>" })).resolves.toMatchObject({ status: 400 });
      await expect(getWith("AAAAA", query)).resolves.toEqual({ status: 401, body: { error: "unauthorized", reason: "missing echostr" } });
    });

    // wechatpy tests/test_crypto.py (data only): token 123456, appid wx49f0ab532d5d035a.
    const WECHATPY = { token: "123456", encodingAesKey: "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", appId: "wx49f0ab532d5d035a" };
    const WECHATPY_ENCRYPT =
      "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";

    it("verifies and decrypts wechatpy's safe-mode push, at the vector's own time", async () => {
      const conn = await buildConnection(plugin, { config: { ...CONFIG, ...WECHATPY } });
      const req = channelRequest({
        query: { msg_signature: "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", timestamp: "1411525903", nonce: "461056294", encrypt_type: "aes" },
        body: `<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName><Encrypt><![CDATA[${WECHATPY_ENCRYPT}]]></Encrypt></xml>`,
        receivedAt: new Date(1411525903_000 + 2_000),
      });
      const message = (await channel.verify(req, conn, testPluginContext())) as Buffer;
      expect(message.toString("utf8")).toContain("<Content><![CDATA[test]]></Content>");
      await expect(Promise.resolve(channel.normalize(message, conn))).resolves.toEqual([
        {
          type: "message.received",
          externalId: "msg:4363689963896700987",
          occurredAt: "2014-09-24T02:31:43.000Z",
          identities: [{ type: "wechat_openid", value: "messense" }],
          payload: { threadId: "messense", text: "test" },
        },
      ]);
      // The same push an hour later is outside the window.
      const late = { ...req, receivedAt: new Date(1411525903_000 + 3600_000) };
      await expect(Promise.resolve().then(() => channel.verify(late, conn, testPluginContext()))).rejects.toThrow("stale timestamp");
    });

    it("encrypts wechatpy's reply with the fixed random prefix to the published Encrypt and msg_signature", () => {
      const reply =
        "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
      const expected =
        "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3";
      const random = Buffer.from("1234567890123456");
      expect(encryptMessage(aesKey(WECHATPY.encodingAesKey), WECHATPY.appId, reply, random)).toBe(expected);
      expect(wechatEncrypt(WECHATPY.encodingAesKey, WECHATPY.appId, reply, random)).toBe(expected);
      expect(wechatSignature("123456", "1411525903", "461056294", expected)).toBe("407518b7649e86ef23978113f92d27afa9296533");
      expect(decryptMessage(aesKey(WECHATPY.encodingAesKey), expected)).toEqual({ message: Buffer.from(reply), appId: WECHATPY.appId });
    });
  });

  describe("signatures and encryption, against an independent computation", () => {
    it("sign like sha1 over the sorted, concatenated parts", () => {
      fc.assert(
        fc.property(fc.array(fc.stringMatching(/^[A-Za-z0-9+/=]{0,40}$/), { minLength: 3, maxLength: 4 }), (parts) => {
          expect(wechatSignature(...parts)).toBe(sha1Signature(parts));
        }),
      );
    });

    it("encrypt to what the test's own AES-CBC + PKCS#7(32) framing gives, and decrypt either", () => {
      const key = aesKey(APP.encodingAesKey);
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes, rnd) => {
          const message = Buffer.from(bytes);
          const random = Buffer.from(rnd);
          const ours = encryptMessage(key, APP.appId, message, random);
          expect(ours).toBe(wechatEncrypt(APP.encodingAesKey, APP.appId, message, random));
          // Decrypted by hand: AES-CBC with Node's own padding off, framing read back.
          const d = createDecipheriv("aes-256-cbc", key, key.subarray(0, 16)).setAutoPadding(false);
          const plainText = Buffer.concat([d.update(Buffer.from(ours, "base64")), d.final()]);
          expect(plainText.length % 32).toBe(0);
          expect(plainText.subarray(0, 16)).toEqual(random);
          expect(plainText.readUInt32BE(16)).toBe(message.length);
          expect(decryptMessage(key, ours)).toEqual({ message, appId: APP.appId });
        }),
      );
    });

    it("pads a message that fills whole blocks with a full block of 32s", () => {
      // 16 + 4 + 24 + 18 (app id) = 62 bytes → 2 bytes of padding; 16 + 4 + 26 + 18 = 64 → 32 bytes.
      const key = aesKey(APP.encodingAesKey);
      const d = (e: string) => Buffer.concat([createDecipheriv("aes-256-cbc", key, key.subarray(0, 16)).setAutoPadding(false).update(Buffer.from(e, "base64"))]);
      const full = d(encryptMessage(key, APP.appId, "x".repeat(26)));
      expect(full.length).toBe(96);
      expect([...full.subarray(64)]).toEqual(new Array(32).fill(32));
      expect([...d(encryptMessage(key, APP.appId, "x".repeat(24))).subarray(62)]).toEqual([2, 2]);
    });
  });

  describe("verify", () => {
    it("hands the plain body over unchanged, and the decrypted message in safe mode", async () => {
      await expect(verify(plain("text.xml"))).resolves.toEqual(sample("text.xml"));
      await expect(verify(safe("text.json"))).resolves.toEqual(sample("text.json"));
      await expect(verify(safe("text.xml", APP, { format: "json" }))).resolves.toEqual(sample("text.xml"));
    });

    it("refuses every single-byte change of a signed Encrypt", async () => {
      const push = safePush(APP, sample("text.xml"));
      const encrypt = envelopeEncrypt(push.body);
      const body = push.body.toString("utf8");
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      for (let i = 0; i < encrypt.length; i++) {
        const c = encrypt[i] === "=" ? "A" : alphabet[(alphabet.indexOf(encrypt[i]) + 1 + (i % 63)) % 64];
        const changed = encrypt.slice(0, i) + c + encrypt.slice(i + 1);
        await refusal(asRequest({ query: push.query, body: Buffer.from(body.replace(encrypt, changed)) }));
      }
    });

    it.each([
      ["no signature", { signature: undefined }, "missing signature"],
      ["no timestamp", { timestamp: undefined }, "missing or malformed timestamp"],
      ["a timestamp that is not a number", { timestamp: "12a" }, "missing or malformed timestamp"],
      ["no nonce", { nonce: undefined }, "missing or malformed nonce"],
      ["an unknown encrypt_type", { encrypt_type: "sm4" }, "unknown encrypt_type"],
    ])("refuses a plain push with %s", async (_name, patch, reason) => {
      const push = plainPush(APP, sample("text.xml"));
      const query = Object.fromEntries(Object.entries({ ...push.query, ...patch }).filter(([, v]) => v !== undefined)) as Record<string, string>;
      expect(await refusal(asRequest({ query, body: push.body }))).toContain(reason);
    });

    it("refuses safe mode on a connection without EncodingAESKey", async () => {
      const { encodingAesKey: _omit, ...rest } = CONFIG;
      // buildConnection insists on every secret key being present; a plain-mode config lacks one.
      const plainConn = { ...connection, config: plugin.configSchema!.parse(rest) };
      const e = await verify(safe("text.xml"), testPluginContext(), plainConn).catch((err: Error) => err);
      expect(e).toEqual(new VerificationError("safe-mode request, but the connection has no encodingAesKey"));
      await expect(verify(plain("text.xml"), testPluginContext(), plainConn)).resolves.toEqual(sample("text.xml"));
    });

    describe("timestamp window", () => {
      const at = (offsetSeconds: number, tolerance?: number) => {
        const now = Date.now();
        const push = plainPush(APP, sample("text.xml"), { timestamp: String(Math.floor(now / 1000) + offsetSeconds) });
        const conn = tolerance ? { ...connection, config: { ...connection.config, timestampToleranceSeconds: tolerance } } : connection;
        return verify(asRequest(push, new Date(now)), testPluginContext(), conn);
      };
      it("accepts 300 s either way and refuses beyond, both ways", async () => {
        await expect(at(-299)).resolves.toBeInstanceOf(Buffer);
        await expect(at(299)).resolves.toBeInstanceOf(Buffer);
        await expect(at(-302)).rejects.toThrow(/^stale timestamp: 30[23] s older/);
        await expect(at(302)).rejects.toThrow(/^timestamp is 30[12] s ahead/);
      });
      it("follows the connection's timestampToleranceSeconds", async () => {
        await expect(at(-100, 60)).rejects.toThrow("tolerance 60 s");
        await expect(at(-1000, 1200)).resolves.toBeInstanceOf(Buffer);
      });
    });

    it("refuses a replayed nonce and timestamp, remembering it for twice the window", async () => {
      const ctx = testPluginContext<WechatMiniProgramConfig>();
      const push = safePush(APP, sample("text.xml"));
      await expect(verify(asRequest(push), ctx)).resolves.toEqual(sample("text.xml"));
      expect(await refusal(asRequest(push), ctx)).toBe("replayed request (this nonce and timestamp were already used)");
      expect(ctx.state(connection.id).keys()).toEqual([`nonce:${push.query.nonce}:${push.query.timestamp}`]);
      // A new delivery of the same message (WeChat's retry) has its own nonce: verify passes, and
      // the unchanged MsgId makes it a duplicate for the pipeline.
      const retry = safePush(APP, sample("text.xml"));
      const again = await verify(asRequest(retry), ctx);
      expect((await normalize(again))[0].externalId).toBe((await normalize(sample("text.xml")))[0].externalId);
    });

    it("records no nonce for a request it refuses", async () => {
      const ctx = testPluginContext<WechatMiniProgramConfig>();
      await refusal(asRequest(plainPush({ token: "wrongToken9" }, sample("text.xml"))), ctx);
      await refusal(asRequest(safePush(APP, sample("text.xml"), { appId: "wx0000000000000000" })), ctx);
      expect(ctx.state(connection.id).keys()).toEqual([]);
    });

    describe("broken ciphertexts, correctly signed", () => {
      const withEncrypt = (encrypt: string) => asRequest(safePush(APP, "", { encrypt, format: "xml" }));
      const key = APP.encodingAesKey;

      it("refuses a ciphertext cut short of whole 32-byte blocks", async () => {
        const full = Buffer.from(wechatEncrypt(key, APP.appId, sample("text.xml")), "base64");
        expect(await refusal(withEncrypt(full.subarray(0, full.length - 16).toString("base64")))).toMatch(/^cannot decrypt: ciphertext is truncated/);
        expect(await refusal(withEncrypt(full.subarray(0, full.length - 5).toString("base64")))).toMatch(/truncated/);
      });

      it("refuses a ciphertext that is not base64", async () => {
        expect(await refusal(withEncrypt("not*base64!"))).toBe("cannot decrypt: ciphertext is not valid base64");
      });

      it.each([
        ["a pad byte of 0", (b: Buffer) => Buffer.concat([b, Buffer.alloc(32 - (b.length % 32), 0)])],
        ["a pad byte of 33", (b: Buffer) => Buffer.concat([b, Buffer.alloc(32 - (b.length % 32) - 1, 7), Buffer.from([33])])],
        ["pad bytes that differ", (b: Buffer) => {
          const p = pkcs7(Buffer.concat([b, Buffer.from("xyz")]));
          p[p.length - 2] ^= 1;
          return p;
        }],
      ])("refuses %s", async (_name, pad) => {
        const padded = pad(framed(sample("text.xml"), APP.appId));
        expect(padded.length % 32).toBe(0);
        expect(await refusal(withEncrypt(aesCbcRaw(key, padded).toString("base64")))).toMatch(/^cannot decrypt: bad padding/);
      });

      it("refuses a length field longer than the plaintext", async () => {
        const f = framed(sample("text.xml"), APP.appId);
        f.writeUInt32BE(f.length, 16);
        expect(await refusal(withEncrypt(aesCbcRaw(key, pkcs7(f)).toString("base64")))).toMatch(/^cannot decrypt: message length \d+ exceeds the plaintext/);
      });

      it("refuses a message for another app id, and one whose app id is a prefix of ours", async () => {
        expect(await refusal(safe("text.xml", APP, { appId: "wx49f0ab532d5d035a" }))).toBe("the encrypted message is for another app id");
        expect(await refusal(safe("text.xml", APP, { appId: APP.appId.slice(0, -1) }))).toBe("the encrypted message is for another app id");
      });

      it("refuses an envelope without Encrypt, or one it cannot read", async () => {
        const push = safePush(APP, sample("text.xml"));
        expect(await refusal(asRequest({ query: push.query, body: Buffer.from("<xml><ToUserName>gh</ToUserName></xml>") }))).toBe("safe-mode body has no Encrypt");
        expect(await refusal(asRequest({ query: push.query, body: Buffer.from("<xml><Encrypt>") }))).toMatch(/^safe-mode body is unreadable/);
      });
    });

    it("lets authentic plain pushes with random or mutated bodies end only in events or NormalizationError", async () => {
      await checkAuthenticGarbage(
        plugin,
        connection,
        [{ name: "plain JSON text", request: (c) => plain("text.json", configOf(c)) }],
        (body, c) => asRequest(plainPush(configOf(c), body)),
      );
    });
  });

  describe("normalize", () => {
    const common = { occurredAt: expect.any(String), identities: [{ type: "wechat_openid", value: OPENID }] };

    it("turns a text message into message.received on the user's thread, keyed by MsgId", async () => {
      await expect(normalize(sample("text.xml"))).resolves.toEqual([
        {
          type: "message.received",
          externalId: "msg:7305318569243146241",
          occurredAt: "2025-11-20T02:35:30.000Z",
          identities: [{ type: "wechat_openid", value: OPENID }],
          payload: { threadId: OPENID, text: "你好，请问西湖龙井 250g 礼盒还有货吗？" },
        },
      ]);
    });

    it("keeps a JSON MsgId beyond 2^53 (and 2^64) exact, as digits", async () => {
      const [event] = await normalize(sample("text.json"));
      expect(event).toEqual({ ...common, type: "message.received", externalId: "msg:23473234567890123456", payload: { threadId: OPENID, text: "订单 SO20261120-0042 什么时候发货？" } });
      // What JSON.parse alone would have made of it:
      expect(String(JSON.parse(sample("text.json").toString()).MsgId)).not.toBe("23473234567890123456");
      const [neighbour] = await normalize(sample("text.json").toString().replace("23473234567890123456", "23473234567890123457"));
      expect(neighbour.externalId).toBe("msg:23473234567890123457");
    });

    it("gives the same externalId to a MsgId sent as a number or as a string", async () => {
      const asString = sample("text.json").toString().replace("23473234567890123456", '"23473234567890123456"');
      expect((await normalize(asString))[0].externalId).toBe("msg:23473234567890123456");
    });

    it("turns an image into an attachment with its URL and media id", async () => {
      await expect(normalize(sample("image.xml"))).resolves.toEqual([
        {
          ...common,
          type: "message.received",
          externalId: "msg:7305318569243146242",
          payload: { threadId: OPENID, attachments: [{ type: "image", url: "https://mmbiz.qpic.cn/mmbiz_jpg/Kq7xQ2bN0c/0", mediaId: "Xo3lHq8vR2yT5uW9zB1cD4eF6gH7iJ0kL_mN-pQ" }] },
        },
      ]);
    });

    it("turns a mini-program card into a subject, the page and its thumbnail", async () => {
      await expect(normalize(sample("miniprogrampage.json"))).resolves.toEqual([
        {
          ...common,
          type: "message.received",
          externalId: "msg:7305318569243146243",
          payload: {
            threadId: OPENID,
            subject: "明前西湖龙井 250g 礼盒装",
            attachments: [
              { type: "miniprogrampage", url: "pages/goods/detail?sku=LJ-250", name: "明前西湖龙井 250g 礼盒装" },
              { type: "thumbnail", url: "https://mmbiz.qpic.cn/mmbiz_jpg/thumb/0", mediaId: "Th9mB2nV4cX6zL8kJ0hG" },
            ],
          },
        },
      ]);
    });

    it("turns user_enter_tempsession into a message keyed by user, time and event", async () => {
      await expect(normalize(sample("user-enter-tempsession.xml"))).resolves.toEqual([
        {
          type: "message.received",
          externalId: `event:${OPENID}:1763606100:user_enter_tempsession`,
          occurredAt: "2025-11-20T02:35:00.000Z",
          identities: [{ type: "wechat_openid", value: OPENID }],
          payload: { threadId: OPENID, subject: "user_enter_tempsession", text: "商品详情页-咨询客服" },
        },
      ]);
    });

    it("adds the unionid identity when the push carries one", async () => {
      const withUnion = sample("text.xml").toString().replace("<CreateTime>", "<UnionId><![CDATA[oU1bZ0x9Wq8VnRt7YsKp3LmJ6hGf]]></UnionId><CreateTime>");
      expect((await normalize(withUnion))[0].identities).toEqual([
        { type: "wechat_openid", value: OPENID },
        { type: "wechat_unionid", value: "oU1bZ0x9Wq8VnRt7YsKp3LmJ6hGf" },
      ]);
    });

    it.each([
      ["a voice message", sample("voice.xml")],
      ["an unknown event", sample("user-enter-tempsession.xml").toString().replace("user_enter_tempsession", "weapp_audit_success")],
      ["an event named like an Object method", sample("user-enter-tempsession.xml").toString().replace("user_enter_tempsession", "constructor")],
    ])("acknowledges %s without events", async (_name, body) => {
      await expect(normalize(body)).resolves.toEqual([]);
    });

    it.each([
      ["malformed XML", sample("malformed.xml"), /^malformed XML/],
      ["malformed JSON", '{"MsgType":"text",', /^malformed JSON/],
      ["a JSON array", "[1,2]", "body is neither XML"],
      ["a DOCTYPE", '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><MsgType>text</MsgType></xml>', "DOCTYPE"],
      ["a second root element", "<xml><MsgType>text</MsgType></xml><xml/>", "single root"],
      ["no MsgType", "<xml><Content>x</Content></xml>", "MsgType: required"],
      ["a text without FromUserName", sample("text-without-sender.xml"), "FromUserName: required"],
      ["a text without MsgId", sample("text.xml").toString().replace(/<MsgId>.*<\/MsgId>/, ""), "MsgId: required"],
      ["a MsgId that is not a number", sample("text.xml").toString().replace(/<MsgId>.*<\/MsgId>/, "<MsgId>12ab</MsgId>"), "MsgId: must be an unsigned integer"],
      ["a MsgId sent twice", sample("text.xml").toString().replace("<MsgId>", "<MsgId>1</MsgId><MsgId>"), "MsgId: must be a single text value"],
      ["a CreateTime in milliseconds", sample("text.xml").toString().replace("1763606130", "1763606130000"), "CreateTime: must be unix seconds"],
      ["an openid with markup", sample("text.xml").toString().replace(OPENID, "<b>x</b>"), "FromUserName"],
      ["bytes that are not UTF-8", Buffer.from([0x3c, 0x78, 0xff, 0x3e]), "not valid UTF-8"],
      ["nothing", "", "body is empty"],
    ])("refuses %s with NormalizationError", async (_name, body, reason) => {
      const e = await normalize(body).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(NormalizationError);
      if (typeof reason === "string") expect((e as Error).message).toContain(reason);
      else expect((e as Error).message).toMatch(reason);
    });
  });

  describe("quoteBigIntegers", () => {
    it.each([
      ['{"a":23473234567890123456}', '{"a":"23473234567890123456"}'],
      ['{"a":-23473234567890123456,"b":9007199254740991}', '{"a":"-23473234567890123456","b":9007199254740991}'],
      ['{"a":9007199254740993}', '{"a":"9007199254740993"}'],
      ['{"s":"x 23473234567890123456 \\" 23473234567890123456"}', '{"s":"x 23473234567890123456 \\" 23473234567890123456"}'],
      ['{"f":23473234567890123456.5,"e":23473234567890123456e2}', '{"f":23473234567890123456.5,"e":23473234567890123456e2}'],
      ["[023473234567890123456]", "[023473234567890123456]"],
    ])("%s → %s", (input, output) => {
      expect(quoteBigIntegers(input)).toBe(output);
    });

    it("turns only integers a double cannot hold into their digits, and changes nothing else of any JSON document", () => {
      const expected = (v: unknown): unknown =>
        typeof v === "number"
          ? Number.isInteger(v) && !Number.isSafeInteger(v) && /^-?[0-9]+$/.test(JSON.stringify(v))
            ? JSON.stringify(v)
            : v
          : Array.isArray(v)
            ? v.map(expected)
            : v !== null && typeof v === "object"
              ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expected(x)]))
              : v;
      fc.assert(
        fc.property(fc.jsonValue(), (v) => {
          const text = JSON.stringify(v);
          expect(JSON.parse(quoteBigIntegers(text))).toEqual(expected(JSON.parse(text)));
        }),
        { numRuns: 500 },
      );
    });
  });

  describe("acknowledge", () => {
    it("answers WeChat's bare success as text/plain, whatever the results", () => {
      const ok = { status: 200, headers: { "content-type": "text/plain; charset=utf-8" }, body: "success" };
      expect(channel.acknowledge!([{ externalId: "msg:1", status: "duplicate" }], sample("text.xml"), connection)).toEqual(ok);
      expect(channel.acknowledge!([{ externalId: "msg:1", status: "rejected", reason: "payload.text: too long" }], sample("text.xml"), connection)).toEqual(ok);
      expect(channel.acknowledge!([], sample("voice.xml"), connection)).toEqual(ok);
    });
  });

  describe("customer global ids", () => {
    it("are spelled as the core spells them, and read back only for customers", () => {
      const uuid = "0b5e8c1a-7d2f-4e3b-9a6c-5f4e3d2c1b0a";
      expect(customerGlobalId(uuid)).toBe(Buffer.from(`Customer:${uuid}`).toString("base64url"));
      expect(customerUuid(customerGlobalId(uuid))).toBe(uuid);
      expect(customerUuid(Buffer.from(`ChannelConnection:${uuid}`).toString("base64url"))).toBeNull();
      expect(customerUuid("not an id")).toBeNull();
      expect(customerUuid(randomBytes(30).toString("base64url"))).toBeNull();
    });
  });
});
