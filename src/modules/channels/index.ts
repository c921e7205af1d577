import "./events";
import { defineModule } from "../../core/module";
import { ChannelConnection } from "./entity";
import { CHANNEL_EVENTS } from "./events";
import { ChannelConnectionResolver } from "./resolver";
import { ChannelsService } from "./service";

declare module "../../app" {
  interface App {
    channels: ChannelsService;
  }
}

/** A tenant's channel connections (config validated by the channel's plugin, secrets sealed). */
export const channelsModule = defineModule({
  name: "channels",
  entities: [ChannelConnection],
  resolvers: [ChannelConnectionResolver],
  events: CHANNEL_EVENTS,
  setup(app) {
    app.channels = new ChannelsService(app);
  },
});

export { ChannelConnection } from "./entity";
export { ChannelsService } from "./service";
