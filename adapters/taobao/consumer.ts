import { createHash } from "node:crypto";
import WebSocket from "ws";

import { decodeTmcFrame, encodeTmcFrame, MessageKind, MessageType, type TmcFrame, type TmcValue } from "./frame";

/**
 * One TMC consumer: a WebSocket to the message service for one app key and group, speaking the
 * protocol of frame.ts. It signs in (CONNECT → CONNECTACK with a token), sends a pull request and a
 * WebSocket ping every `heartbeatMs` (the pull request is TMC's own keep-alive and asks for more
 * messages; a missing pong means a dead link), hands data messages to `handle` in batches and
 * confirms each message only after `handle` resolved — for the plugin, after the ingest transaction
 * committed. When `handle` throws, nothing of the batch is confirmed: the consumer drops the link and
 * reconnects with backoff, and TMC delivers the unconfirmed messages again.
 */

/** A data message as it arrived: its id (for the confirm) and all its custom headers. */
export interface ReceivedMessage {
  id: bigint;
  fields: Record<string, TmcValue>;
}

export interface ConsumerLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface TmcConsumerOptions {
  url: string;
  appKey: string;
  appSecret: string;
  groupName: string;
  /** Resolve only when the messages are safely processed: they are confirmed right after. Throw to have them redelivered. */
  handle(messages: ReceivedMessage[]): Promise<void>;
  log: ConsumerLog;
  /** First reconnect delay; doubles per failed attempt up to `reconnectMaxMs`, with jitter. Default 1000. */
  reconnectBaseMs?: number;
  /** Default 60 000. */
  reconnectMaxMs?: number;
  /** Pull request and ping interval. Default 5000, as the reference clients use. */
  heartbeatMs?: number;
  /** Longest wait from dialling to CONNECTACK. Default 10 000. */
  connectTimeoutMs?: number;
  /** A link that stayed up this long resets the backoff. Default 30 000. */
  stableAfterMs?: number;
  /** Most messages handed to `handle` at once. Default 100. */
  maxBatch?: number;
  /** Queued messages beyond which no more are pulled. Default 1000. */
  maxQueue?: number;
  /** Name sent as `sdk` in CONNECT. */
  sdk?: string;
  random?: () => number;
}

/**
 * The CONNECT signature: upper-case hex MD5 of the app secret, then each parameter's name and value
 * in ascending order of name, then the app secret again (TOP's signing recipe). TMC signs
 * `app_key`, `group_name` and `timestamp` (unix milliseconds as a decimal string).
 */
export function tmcSign(appSecret: string, params: Readonly<Record<string, string>>): string {
  const md5 = createHash("md5").update(appSecret, "utf8");
  for (const name of Object.keys(params).sort()) md5.update(name, "utf8").update(params[name], "utf8");
  return md5.update(appSecret, "utf8").digest("hex").toUpperCase();
}

/** The CONNECT frame a consumer sends first. */
export function connectFrame(opts: { appKey: string; appSecret: string; groupName: string; timestamp: number; sdk?: string }): TmcFrame {
  const params = { app_key: opts.appKey, group_name: opts.groupName, timestamp: String(opts.timestamp) };
  return { messageType: MessageType.CONNECT, content: { ...params, sign: tmcSign(opts.appSecret, params), sdk: opts.sdk ?? "omnichannel-crm" } };
}

/**
 * Reconnect delay after `attempt` failures in a row: exponential from `baseMs`, capped at `maxMs`,
 * with "equal jitter" — uniformly between half the step and the full step, so consumers restarted
 * together spread out, yet never retry sooner than half the step.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(step / 2 + (Math.min(Math.max(random(), 0), 1) * step) / 2);
}

interface Session {
  ws: WebSocket;
  token?: string;
  readyAt?: number;
  alive: boolean;
  queue: ReceivedMessage[];
  timers: NodeJS.Timeout[];
  closed: Promise<void>;
}

const MAX_FRAME_BYTES = 16 * 1024 * 1024;

export class TmcConsumer {
  private readonly o: Required<Omit<TmcConsumerOptions, "handle" | "log">> & Pick<TmcConsumerOptions, "handle" | "log">;
  private session: Session | undefined;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private processing: Promise<void> | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(options: TmcConsumerOptions) {
    this.o = {
      reconnectBaseMs: 1000,
      reconnectMaxMs: 60_000,
      heartbeatMs: 5000,
      connectTimeoutMs: 10_000,
      stableAfterMs: 30_000,
      maxBatch: 100,
      maxQueue: 1000,
      sdk: "omnichannel-crm",
      random: Math.random,
      // Keys given as undefined keep their default.
      ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as TmcConsumerOptions),
    };
  }

  /** Whether the link is signed in (CONNECTACK received). */
  get connected(): boolean {
    return Boolean(this.session?.token);
  }

  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.connect();
  }

  /** Closes the link, cancels reconnects and waits for a batch in progress to settle. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.reconnectTimer);
      const s = this.session;
      if (s) {
        // Politely, then firmly: an unresponsive peer must not hold shutdown for ws's 30 s close timeout.
        let force: NodeJS.Timeout | undefined;
        if (s.ws.readyState === WebSocket.OPEN) {
          s.ws.close(1000, "consumer stopped");
          force = setTimeout(() => s.ws.terminate(), 1000);
        } else s.ws.terminate();
        await s.closed;
        clearTimeout(force);
      }
      await this.processing;
    })();
    return this.stopping;
  }

  private connect(): void {
    if (this.stopping) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.o.url, { handshakeTimeout: this.o.connectTimeoutMs, maxPayload: MAX_FRAME_BYTES });
    } catch (err) {
      this.o.log.error({ err: (err as Error).message }, "taobao: cannot dial TMC");
      this.scheduleReconnect();
      return;
    }
    let markClosed!: () => void;
    const session: Session = { ws, alive: true, queue: [], timers: [], closed: new Promise((r) => (markClosed = r)) };
    this.session = session;
    session.timers.push(
      setTimeout(() => {
        if (!session.token) {
          this.o.log.warn({ timeoutMs: this.o.connectTimeoutMs }, "taobao: no CONNECTACK from TMC in time; reconnecting");
          ws.terminate();
        }
      }, this.o.connectTimeoutMs),
    );
    ws.on("open", () => {
      this.send(session, connectFrame({ ...this.o, timestamp: Date.now() }));
    });
    ws.on("message", (data, isBinary) => {
      session.alive = true;
      if (!isBinary) return; // TMC speaks binary frames only
      this.onFrame(session, toBuffer(data));
    });
    ws.on("pong", () => {
      session.alive = true;
    });
    ws.on("error", (err) => {
      this.o.log.warn({ err: err.message }, "taobao: TMC link error");
    });
    ws.on("close", (code) => {
      session.timers.forEach(clearTimeout);
      session.queue.length = 0; // unconfirmed: TMC delivers them again
      markClosed();
      this.onClose(session, code);
    });
  }

  private onFrame(session: Session, bytes: Buffer): void {
    let frame: TmcFrame;
    try {
      frame = decodeTmcFrame(bytes);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message, bytes: bytes.length }, "taobao: undecodable TMC frame skipped");
      return;
    }
    if (frame.messageType === MessageType.CONNECTACK) return this.onConnectAck(session, frame);
    if (frame.messageType !== MessageType.SEND) return; // SENDACK and the rest carry nothing for a consumer
    const kind = frame.content.__kind;
    if (kind !== undefined && kind !== null && kind !== MessageKind.Data) return;
    const id = frame.content.id;
    if (typeof id !== "bigint" && !(typeof id === "number" && Number.isSafeInteger(id))) {
      this.o.log.warn({ topic: String(frame.content.topic ?? "") }, "taobao: TMC message without an id skipped (it cannot be confirmed)");
      return;
    }
    session.queue.push({ id: BigInt(id), fields: frame.content });
    this.drain();
  }

  private onConnectAck(session: Session, frame: TmcFrame): void {
    if (frame.statusCode || !frame.token) {
      // Wrong app key or secret, unknown group, clock skew…: retried with backoff, loudly.
      this.o.log.error({ statusCode: frame.statusCode, statusPhrase: frame.statusPhrase }, "taobao: TMC refused the connection");
      session.ws.terminate();
      return;
    }
    session.token = frame.token;
    session.readyAt = Date.now();
    this.o.log.info({ group: this.o.groupName }, "taobao: connected to TMC");
    session.timers.push(setInterval(() => this.heartbeat(session), this.o.heartbeatMs));
    this.pull(session);
  }

  private heartbeat(session: Session): void {
    if (!session.alive) {
      this.o.log.warn({ heartbeatMs: this.o.heartbeatMs }, "taobao: TMC link silent (no pong); reconnecting");
      session.ws.terminate();
      return;
    }
    session.alive = false;
    if (session.ws.readyState === WebSocket.OPEN) session.ws.ping();
    this.pull(session);
  }

  private pull(session: Session): void {
    if (session.queue.length < this.o.maxQueue) {
      this.send(session, { messageType: MessageType.SEND, token: session.token, content: { __kind: MessageKind.PullRequest } });
    }
  }

  /** One batch at a time, in arrival order: messages of one trade arrive in the order they happened. */
  private drain(): void {
    const session = this.session;
    // After stop() nothing new starts: what is queued stays unconfirmed and is delivered again.
    if (this.processing || this.stopping || !session?.token || !session.queue.length) return;
    const batch = session.queue.splice(0, this.o.maxBatch);
    this.processing = this.process(session, batch).finally(() => {
      this.processing = undefined;
      this.drain();
    });
  }

  private async process(session: Session, batch: ReceivedMessage[]): Promise<void> {
    try {
      await this.o.handle(batch);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message, messages: batch.length }, "taobao: processing failed; messages left unconfirmed for redelivery");
      // Nothing more from this link: what is queued behind the batch is redelivered with it.
      session.queue.length = 0;
      session.token = undefined;
      session.ws.terminate();
      return;
    }
    this.attempts = 0;
    // Confirms go on the link the messages came on (the token is the link's). If it is gone, TMC
    // delivers them again and the pipeline answers "duplicate" — then they are confirmed.
    for (const m of batch) this.send(session, { messageType: MessageType.SEND, token: session.token, content: { __kind: MessageKind.Confirm, id: m.id } });
  }

  private send(session: Session, frame: TmcFrame): void {
    if (session.ws.readyState === WebSocket.OPEN) session.ws.send(encodeTmcFrame(frame));
  }

  private onClose(session: Session, code: number): void {
    if (this.session !== session) return;
    this.session = undefined;
    if (this.stopping) return;
    if (session.readyAt !== undefined && Date.now() - session.readyAt >= this.o.stableAfterMs) this.attempts = 0;
    this.o.log.info({ code }, "taobao: TMC link closed");
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopping) return;
    const delay = backoffDelay(this.attempts++, this.o.reconnectBaseMs, this.o.reconnectMaxMs, this.o.random);
    this.o.log.info({ delayMs: delay, attempt: this.attempts }, "taobao: reconnecting to TMC");
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
