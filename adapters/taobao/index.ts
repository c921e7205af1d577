import { definePlugin, type PluginContext, type PluginDefinition } from "../../src/plugins";
import { configSchema, type TaobaoConfig } from "./config";
import { normalizeTmcPayload } from "./normalize";
import { verifyReplay } from "./replay";
import { DEFAULT_CADENCE, TaobaoSupervisor, type ConsumerTuning, type ReconcileCadence } from "./supervisor";

/**
 * Taobao / Tmall shops: trade and refund messages from TMC, Taobao's WebSocket message service, become
 * order events. Taobao has no webhooks — each enabled connection runs a TMC consumer inside the
 * server (started and stopped by a job that follows the connections), which confirms a message only
 * after its events are committed. The channel's webhook takes signed replays of TMC messages.
 * See README.md beside this file.
 */

export { configSchema, DEFAULT_TMC_URL, type TaobaoConfig } from "./config";
export { decodeTmcFrame, encodeTmcFrame, HeaderType, MessageKind, MessageType, TmcFrameError, ValueFormat, type TmcFrame, type TmcValue } from "./frame";
export { backoffDelay, connectFrame, TmcConsumer, tmcSign, type ReceivedMessage, type TmcConsumerOptions } from "./consumer";
export { normalizeTmcMessage, normalizeTmcPayload, occurredAt, parseJsonExact, REFUND_TOPICS, tmcMessageFromFrame, TRADE_TOPICS, yuanToFen, type TmcMessage } from "./normalize";
export { REPLAY_SIGNATURE_HEADER, REPLAY_TOLERANCE_SECONDS, signTaobaoReplay } from "./replay";
export { DEFAULT_CADENCE, TaobaoSupervisor, type ConsumerTuning, type ReconcileCadence } from "./supervisor";

export interface TaobaoPluginOptions {
  cadence?: Partial<ReconcileCadence>;
  consumer?: ConsumerTuning;
}

/**
 * A taobao plugin with its own consumers. The built-in instance is `taobaoPlugin`; a host that
 * registers its own (through CRM_PLUGINS, with other timings) must not register both: one name, one plugin.
 */
export function createTaobaoPlugin(options: TaobaoPluginOptions = {}): PluginDefinition<TaobaoConfig> {
  // One supervisor per host context: the host hands the same context to init and to every job run.
  const cadence: ReconcileCadence = { ...DEFAULT_CADENCE, ...options.cadence };
  const supervisors = new Map<PluginContext<TaobaoConfig>, TaobaoSupervisor>();
  // A host that destroyed the plugin gets no new supervisor (a late event or job run must not start consumers).
  const destroyed = new WeakSet<PluginContext<TaobaoConfig>>();
  const supervisorOf = (ctx: PluginContext<TaobaoConfig>) => {
    let s = supervisors.get(ctx);
    if (!s) {
      s = new TaobaoSupervisor(ctx, options.consumer, cadence);
      if (destroyed.has(ctx)) void s.stop();
      else supervisors.set(ctx, s);
    }
    return s;
  };
  return definePlugin<TaobaoConfig>({
    name: "taobao",
    version: "1.0.0",
    compatibility: "^1.2.0",
    identityTypes: [{ name: "taobao_buyer", importHeaders: ["淘宝买家ID", "buyer_open_uid"] }],
    description: "Taobao/Tmall trades and refunds through TMC (Taobao Message Channel) as order events.",
    configSchema,
    secretKeys: ["appSecret"],
    channel: {
      verify: (req, connection) => verifyReplay(req, connection.config.appSecret),
      normalize: (payload) => normalizeTmcPayload(payload),
    },
    // A connection created, changed or disabled here: match the consumers at once. Polling (below)
    // stays the safety net — on another instance, or if this event went to another dispatcher.
    onEvent: {
      "channel_connection.changed": (_event, ctx) => supervisorOf(ctx).reconcile(),
    },
    // Ticks every activeMs; the supervisor queries the connections only when its cadence says so.
    jobs: [{ name: "tmc-consumers", everyMs: cadence.activeMs, run: (ctx) => supervisorOf(ctx).tick() }],
    async init(ctx) {
      try {
        await supervisorOf(ctx).reconcile();
      } catch (err) {
        // Not fatal for the server: the job tries again.
        ctx.log.warn({ err: (err as Error).message }, "taobao: could not start TMC consumers yet");
      }
    },
    async destroy(ctx) {
      destroyed.add(ctx);
      const s = supervisors.get(ctx);
      supervisors.delete(ctx);
      await s?.stop();
    },
  });
}

export const taobaoPlugin = createTaobaoPlugin();
export default taobaoPlugin;
