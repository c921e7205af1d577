/**
 * The TMC (Taobao Message Channel) binary frame, protocol version 2: what travels in each binary
 * WebSocket message between a consumer and `mc.api.taobao.com`. Written from the protocol as the
 * public clients speak it (the Java SDK's MessageDecoder02, TheNorthMemory/tmc.js):
 *
 * ```
 * byte      protocol version (2)
 * byte      message type (MessageType)
 * repeated  Int16LE header type (HeaderType), then its value:
 *             StatusCode, Flag        Int32LE
 *             StatusPhrase, Token     counted string
 *             Custom                  counted string key, then a typed value:
 *                                       byte ValueFormat, then Void: nothing · Byte: int8 · Int16: Int16LE ·
 *                                       Int32: Int32LE · Int64: BigInt64LE · Date: BigInt64LE ms since epoch ·
 *                                       ByteArray: Int32LE length + bytes · CountedString: counted string
 * Int16LE   EndOfHeaders (0)
 * ```
 * A counted string is an Int32LE byte length followed by that many bytes of UTF-8.
 */

export const TMC_PROTOCOL_VERSION = 2;

export const MessageType = { CONNECT: 0, CONNECTACK: 1, SEND: 2, SENDACK: 3 } as const;
export const HeaderType = { EndOfHeaders: 0, Custom: 1, StatusCode: 2, StatusPhrase: 3, Flag: 4, Token: 5 } as const;
export const ValueFormat = { Void: 0, CountedString: 1, Byte: 2, Int16: 3, Int32: 4, Int64: 5, Date: 6, ByteArray: 7 } as const;
/** The `__kind` custom header of SEND frames. */
export const MessageKind = { None: 0, PullRequest: 1, Confirm: 2, Data: 3, Failed: 20 } as const;

/**
 * A custom header value. Decoding gives: Void → null, Byte/Int16/Int32 → number, Int64 → bigint
 * (message and user ids exceed 2^53), Date → Date, ByteArray → Buffer, CountedString → string.
 * Encoding picks the format from the JS type: integers as the smallest of Byte/Int16/Int32 that holds
 * them (Int64 beyond), bigint as Int64 — send ids you received back as the bigint you got.
 */
export type TmcValue = null | number | bigint | string | Date | Buffer;

export interface TmcFrame {
  messageType: number;
  statusCode?: number;
  statusPhrase?: string;
  flag?: number;
  token?: string;
  /** Custom headers, in wire order. */
  content: Record<string, TmcValue>;
}

/** A frame that cannot be decoded (or a value that cannot be encoded). */
export class TmcFrameError extends Error {
  override readonly name = "TmcFrameError";
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The frame's bytes. Throws TmcFrameError for values the protocol cannot carry. */
export function encodeTmcFrame(frame: TmcFrame): Buffer {
  if (!Number.isInteger(frame.messageType) || frame.messageType < 0 || frame.messageType > 255) {
    throw new TmcFrameError(`message type ${frame.messageType} is not a byte`);
  }
  const w = new Writer();
  w.int8(TMC_PROTOCOL_VERSION);
  w.int8(frame.messageType);
  // StatusCode is an Int32 on the wire, as both reference decoders read it (tmc.js writes an Int16 here,
  // which its own decoder would misread; consumers never send a status code, servers do).
  if (frame.statusCode !== undefined) w.int16(HeaderType.StatusCode).int32(frame.statusCode);
  if (frame.statusPhrase !== undefined) w.int16(HeaderType.StatusPhrase).countedString(frame.statusPhrase);
  if (frame.flag !== undefined) w.int16(HeaderType.Flag).int32(frame.flag);
  if (frame.token !== undefined) w.int16(HeaderType.Token).countedString(frame.token);
  for (const [key, value] of Object.entries(frame.content)) w.int16(HeaderType.Custom).countedString(key).value(key, value);
  w.int16(HeaderType.EndOfHeaders);
  return w.bytes();
}

/**
 * Reads one frame. Throws TmcFrameError for another protocol version, an unknown header type or value
 * format, or a length that runs past the end. Bytes after EndOfHeaders are ignored, as the Java
 * client ignores them.
 */
export function decodeTmcFrame(bytes: Uint8Array): TmcFrame {
  const r = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const version = r.uint8();
  if (version !== TMC_PROTOCOL_VERSION) throw new TmcFrameError(`unsupported TMC protocol version ${version} (expected ${TMC_PROTOCOL_VERSION})`);
  const frame: TmcFrame = { messageType: r.uint8(), content: {} };
  for (;;) {
    const header = r.int16();
    switch (header) {
      case HeaderType.EndOfHeaders:
        return frame;
      case HeaderType.Custom: {
        const key = r.countedString();
        // defineProperty: a key such as "__proto__" becomes an own property, not the prototype.
        Object.defineProperty(frame.content, key, { value: r.value(), enumerable: true, writable: true, configurable: true });
        break;
      }
      case HeaderType.StatusCode:
        frame.statusCode = r.int32();
        break;
      case HeaderType.StatusPhrase:
        frame.statusPhrase = r.countedString();
        break;
      case HeaderType.Flag:
        frame.flag = r.int32();
        break;
      case HeaderType.Token:
        frame.token = r.countedString();
        break;
      default:
        throw new TmcFrameError(`unknown header type ${header} at byte ${r.offset - 2}`);
    }
  }
}

class Writer {
  private readonly parts: Buffer[] = [];

  int8(n: number): this {
    const b = Buffer.alloc(1);
    b.writeInt8(n << 24 >> 24); // message types and formats are written as the signed byte they fit in
    this.parts.push(b);
    return this;
  }

  int16(n: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16LE(n);
    this.parts.push(b);
    return this;
  }

  int32(n: number): this {
    if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31) throw new TmcFrameError(`${n} is not a 32-bit integer`);
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    this.parts.push(b);
    return this;
  }

  int64(n: bigint): this {
    if (n < INT64_MIN || n > INT64_MAX) throw new TmcFrameError(`${n} does not fit in 64 bits`);
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(n);
    this.parts.push(b);
    return this;
  }

  countedString(s: string): this {
    const bytes = Buffer.from(s, "utf8");
    this.int32(bytes.length);
    this.parts.push(bytes);
    return this;
  }

  value(key: string, v: TmcValue | undefined): this {
    if (v === null || v === undefined) return this.int8(ValueFormat.Void);
    if (typeof v === "string") return this.int8(ValueFormat.CountedString).countedString(v);
    if (typeof v === "bigint") return this.int8(ValueFormat.Int64).int64(v);
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v)) throw new TmcFrameError(`custom header ${JSON.stringify(key)}: ${v} is not an integer the protocol can carry`);
      if (v >= -128 && v < 128) return this.int8(ValueFormat.Byte).int8(v);
      if (v >= -32768 && v < 32768) return this.int8(ValueFormat.Int16).int16(v);
      if (v >= -(2 ** 31) && v < 2 ** 31) return this.int8(ValueFormat.Int32).int32(v);
      return this.int8(ValueFormat.Int64).int64(BigInt(v));
    }
    if (v instanceof Date) {
      const ms = v.getTime();
      if (Number.isNaN(ms)) throw new TmcFrameError(`custom header ${JSON.stringify(key)}: invalid Date`);
      return this.int8(ValueFormat.Date).int64(BigInt(ms));
    }
    if (v instanceof Uint8Array) {
      this.int8(ValueFormat.ByteArray).int32(v.length);
      this.parts.push(Buffer.from(v));
      return this;
    }
    throw new TmcFrameError(`custom header ${JSON.stringify(key)}: cannot encode a ${typeof v}`);
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

class Reader {
  offset = 0;

  constructor(private readonly buf: Buffer) {}

  private need(n: number, what: string): void {
    if (this.offset + n > this.buf.length) {
      throw new TmcFrameError(`frame truncated: ${what} needs ${n} bytes at byte ${this.offset}, ${this.buf.length - this.offset} left`);
    }
  }

  uint8(): number {
    this.need(1, "a byte");
    return this.buf.readUInt8(this.offset++);
  }

  int8(): number {
    this.need(1, "a byte");
    return this.buf.readInt8(this.offset++);
  }

  int16(): number {
    this.need(2, "an Int16");
    const v = this.buf.readInt16LE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(): number {
    this.need(4, "an Int32");
    const v = this.buf.readInt32LE(this.offset);
    this.offset += 4;
    return v;
  }

  int64(): bigint {
    this.need(8, "an Int64");
    const v = this.buf.readBigInt64LE(this.offset);
    this.offset += 8;
    return v;
  }

  bytes(what: string): Buffer {
    const length = this.int32();
    if (length < 0) throw new TmcFrameError(`negative length ${length} for ${what} at byte ${this.offset - 4}`);
    this.need(length, what);
    const out = this.buf.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  countedString(): string {
    return this.bytes("a counted string").toString("utf8");
  }

  value(): TmcValue {
    const format = this.uint8();
    switch (format) {
      case ValueFormat.Void:
        return null;
      case ValueFormat.CountedString:
        return this.countedString();
      case ValueFormat.Byte:
        return this.int8();
      case ValueFormat.Int16:
        return this.int16();
      case ValueFormat.Int32:
        return this.int32();
      case ValueFormat.Int64:
        return this.int64();
      case ValueFormat.Date: {
        const ms = this.int64();
        const date = new Date(Number(ms));
        if (Number.isNaN(date.getTime())) throw new TmcFrameError(`date ${ms} ms is out of range`);
        return date;
      }
      case ValueFormat.ByteArray:
        // A copy: the frame's buffer belongs to the socket.
        return Buffer.from(this.bytes("a byte array"));
      default:
        throw new TmcFrameError(`unknown value format ${format} at byte ${this.offset - 1}`);
    }
  }
}
