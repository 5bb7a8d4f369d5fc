// The runtime configuration: /config.json beside the page, so one bundle works locally and in the cloud.
export interface RuntimeConfig {
  api_base_url: string;
  mode: string;
  version: string;
}

let cached: Promise<RuntimeConfig> | null = null;

export function loadConfig(): Promise<RuntimeConfig> {
  cached ??= fetch(`${import.meta.env.BASE_URL}config.json`, { cache: "no-cache" })
    .then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({}))
    .then((c: Partial<RuntimeConfig>) => ({
      api_base_url: (c.api_base_url ?? "").replace(/\/$/, ""),
      mode: c.mode ?? "unknown",
      version: c.version ?? "",
    }));
  return cached;
}
