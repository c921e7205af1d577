import { decodeUtf8Body, NormalizationError, parseJsonBody } from "../../../src/plugins";

describe("decodeUtf8Body", () => {
  it("decodes bytes as UTF-8 and returns text as it is", () => {
    expect(decodeUtf8Body(Buffer.from("张三 ¥258.00", "utf8"))).toBe("张三 ¥258.00");
    expect(decodeUtf8Body("already text")).toBe("already text");
    expect(decodeUtf8Body(Buffer.alloc(0))).toBe("");
  });

  it("refuses bytes that are not UTF-8 rather than replacing them", () => {
    for (const bytes of [Buffer.from([0xff]), Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), Buffer.from("张", "utf8").subarray(0, 2)]) {
      expect(() => decodeUtf8Body(bytes)).toThrow(new NormalizationError("body is not valid UTF-8"));
    }
  });

  it("refuses anything but bytes or text", () => {
    for (const payload of [undefined, null, 1, {}, [], new Uint8Array([0x7b, 0x7d])]) {
      expect(() => decodeUtf8Body(payload)).toThrow(new NormalizationError("expected the raw request body"));
    }
  });
});

describe("parseJsonBody", () => {
  it("parses bytes or text as JSON", () => {
    expect(parseJsonBody(Buffer.from('{"a":[1,"二"]}', "utf8"))).toEqual({ a: [1, "二"] });
    expect(parseJsonBody("null")).toBeNull();
  });

  it("names the parser's complaint in a 400", () => {
    let err: unknown;
    try {
      parseJsonBody(Buffer.from("{", "utf8"));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NormalizationError);
    expect((err as NormalizationError).status).toBe(400);
    expect((err as Error).message).toMatch(/^body is not valid JSON: ./);
  });

  it("reports bad UTF-8 and a missing body before parsing", () => {
    const parse = jest.fn();
    expect(() => parseJsonBody(Buffer.from([0xff]), parse)).toThrow(new NormalizationError("body is not valid UTF-8"));
    expect(() => parseJsonBody({ events: [] }, parse)).toThrow(new NormalizationError("expected the raw request body"));
    expect(parse).not.toHaveBeenCalled();
  });

  it("uses the parser it is given, and wraps its errors the same way", () => {
    const exact = (text: string) => ({ exact: text });
    expect(parseJsonBody(Buffer.from("12345678901234567890"), exact)).toEqual({ exact: "12345678901234567890" });
    const refuse = () => {
      throw new SyntaxError("invalid number 01 at position 0");
    };
    expect(() => parseJsonBody("01", refuse)).toThrow(new NormalizationError("body is not valid JSON: invalid number 01 at position 0"));
  });
});
