/** The parts of zulip-js (which ships no types) that the tests call. */
declare module "zulip-js" {
  export interface ZulipConfig {
    realm?: string;
    username?: string;
    password?: string;
    apiKey?: string;
    zuliprc?: string;
  }
  export interface ZulipResult {
    result: "success" | "error";
    msg: string;
    code?: string;
    [field: string]: unknown;
  }
  export interface ZulipClient {
    config: { realm: string; apiURL: string; username: string; apiKey: string };
    callEndpoint(endpoint: string, method?: string, params?: Record<string, unknown>): Promise<ZulipResult>;
    users: { me: { getProfile(): Promise<ZulipResult> } };
    server: { settings(): Promise<ZulipResult> };
    accounts: { retrieve(): Promise<ZulipResult> };
  }
  export default function zulipInit(config: ZulipConfig): Promise<ZulipClient>;
}
