import type { PluginDefinition } from "../src/plugins";
import { examplePlugin } from "./example";
import { httpJsonPlugin } from "./http-json";
// Import order is definition order, which ranks the channels' identity types in the default precedence:
// pos_member, youzan_buyer, taobao_buyer.
import { posPlugin } from "./pos";
import { youzanPlugin } from "./youzan";
import { taobaoPlugin } from "./taobao";
import { wechatMiniProgramPlugin } from "./wechat-miniprogram";

/**
 * The adapters the host registers at start. A new built-in channel is one more entry here;
 * partners' plugins come from CRM_PLUGINS instead (see docs/plugins.md).
 */
// Each plugin is typed by its own config; the host treats them alike and validates each config
// with the plugin's own schema, hence `any` here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const builtinPlugins: PluginDefinition<any>[] = [httpJsonPlugin, examplePlugin, wechatMiniProgramPlugin, posPlugin, youzanPlugin, taobaoPlugin];

export { examplePlugin, httpJsonPlugin };
