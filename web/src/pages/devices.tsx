import { useMemo, useState } from "preact/hooks";
import { enc, get, post, type Schemas } from "../api";
import { go, href, type Route } from "../router";
import { TimeChart } from "../chart";
import { DeviceMap, type MapPoint } from "../map";
import { MediaGrid } from "./media";
import { Badge, Card, ErrorBox, Json, Loading, Outcome, Tabs, useAction, useApi, when } from "../ui";

type Reading = Record<string, unknown>;

function position(row: Reading | undefined): { lat: number; lon: number } | null {
  const lat = Number(row?.lat);
  const lon = Number(row?.lon);
  return row && row.lat !== null && row.lon !== null && Number.isFinite(lat) && Number.isFinite(lon) ? { lat, lon } : null;
}

export function Devices({ route }: { route: Route }) {
  const id = route.parts[1];
  return id ? <DeviceDetail id={id} tab={route.query.get("tab") ?? "overview"} /> : <DeviceList route={route} />;
}

function DeviceList({ route }: { route: Route }) {
  const search = route.query.get("search") ?? "";
  const cursor = route.query.get("cursor") ?? "";
  const devices = useApi(() => get<Schemas["DeviceList"]>("/api/devices", { search, cursor, limit: 50 }), [search, cursor]);
  return (
    <div class="stack">
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          search{" "}
          <input
            name="search"
            value={search}
            placeholder="device id or label prefix"
            onChange={(e) => go(["devices"], { search: (e.target as HTMLInputElement).value.trim() })}
          />
        </label>
        <Loading loading={devices.loading} />
      </form>
      <ErrorBox error={devices.error} />
      <table data-testid="devices">
        <thead>
          <tr>
            <th>device</th>
            <th>label</th>
            <th>group</th>
            <th>status</th>
            <th>online</th>
            <th>last seen</th>
          </tr>
        </thead>
        <tbody>
          {devices.data?.items.map((d) => (
            <tr>
              <td>
                <a href={href(["devices", d.device_id])}>{d.device_id}</a>
              </td>
              <td>{d.label}</td>
              <td>{d.group}</td>
              <td>
                <Badge value={d.status} />
              </td>
              <td>
                <Badge value={d.online ? "online" : "offline"} />
              </td>
              <td>{when(d.last_seen_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {devices.data?.next_cursor && (
        <button onClick={() => go(["devices"], { search, cursor: devices.data?.next_cursor ?? undefined })}>next page →</button>
      )}
      <FleetMap devices={devices.data?.items ?? []} />
      <Alerts />
      <Provision onDone={devices.reload} />
    </div>
  );
}

/** Each listed device at the position of its newest telemetry row (the page's devices, at most 50). */
function FleetMap({ devices }: { devices: Schemas["DeviceOut"][] }) {
  const ids = devices.map((d) => d.device_id).join(",");
  const latest = useApi(
    () =>
      Promise.all(
        devices.map((d) =>
          get<Schemas["TelemetryPage"]>(`/api/devices/${enc(d.device_id)}/telemetry`, { limit: 1 }).then(
            (page) => [d, position(page.items[0] as Reading | undefined)] as const,
          ),
        ),
      ),
    [ids],
  );
  const points: MapPoint[] = (latest.data ?? []).flatMap(([d, at]) =>
    at ? [{ id: d.device_id, ...at, label: `${d.device_id} (${d.online ? "online" : "offline"})`, href: href(["devices", d.device_id]), good: d.online }] : [],
  );
  return (
    <Card title="Map">
      <ErrorBox error={latest.error} />
      {latest.data && <DeviceMap points={points} />}
    </Card>
  );
}

export function Alerts({ deviceId }: { deviceId?: string }) {
  const [all, setAll] = useState(false);
  const alerts = useApi(
    () => get<Schemas["AlertList"]>("/api/devices/alerts", { device_id: deviceId, open: !all || undefined, limit: 100 }),
    [deviceId, all],
  );
  const action = useAction();
  const ack = (a: Schemas["AlertOut"]) =>
    action.run(async () => {
      await post(`/api/devices/alerts/${enc(a.alert_id)}/ack`);
      alerts.reload();
      return `alert ${a.kind} ${a.sensor} of ${a.device_id} acknowledged`;
    });
  return (
    <Card title="Alerts">
      <label>
        <input type="checkbox" checked={all} onChange={() => setAll(!all)} /> include resolved
      </label>
      <ErrorBox error={alerts.error} />
      {alerts.data?.items.length === 0 && <p class="muted">No open alert.</p>}
      <table data-testid="alerts">
        <thead>
          <tr>
            <th>device</th>
            <th>kind</th>
            <th>level</th>
            <th>message</th>
            <th>opened</th>
            <th>acknowledged</th>
          </tr>
        </thead>
        <tbody>
          {alerts.data?.items.map((a) => (
            <tr>
              <td>
                <a href={href(["devices", a.device_id])}>{a.device_id}</a>
              </td>
              <td>
                {a.kind} {a.sensor}
              </td>
              <td>
                <Badge value={a.level} />
              </td>
              <td class="small">{a.message}</td>
              <td>{when(a.opened_at)}</td>
              <td>
                {a.acknowledged_at ? (
                  `by ${a.acknowledged_by} at ${when(a.acknowledged_at)}`
                ) : (
                  <button disabled={action.busy} onClick={() => ack(a)}>
                    acknowledge
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Outcome message={action.message} error={action.error} />
    </Card>
  );
}

function Provision({ onDone }: { onDone: () => void }) {
  const [deviceId, setDeviceId] = useState("");
  const [group, setGroup] = useState("");
  const [token, setToken] = useState("");
  const action = useAction();
  const provision = (e: Event) => {
    e.preventDefault();
    action.run(async () => {
      const r = await post<Schemas["DeviceProvisioned"]>("/api/devices", { device_id: deviceId.trim(), group: group.trim() });
      setToken(r.device_token);
      onDone();
      return `device ${r.device.device_id} provisioned: copy its token now, it is shown only once`;
    });
  };
  return (
    <Card title="Provision a device (admin)">
      <form class="filters" onSubmit={provision}>
        <label>
          device id <input name="device_id" value={deviceId} onInput={(e) => setDeviceId((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          group <input name="group" value={group} onInput={(e) => setGroup((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" disabled={action.busy || !deviceId.trim()}>
          provision
        </button>
      </form>
      <Outcome message={action.message} error={action.error} />
      {token && <p class="mono" data-testid="device-token">{token}</p>}
    </Card>
  );
}

function DeviceDetail({ id, tab }: { id: string; tab: string }) {
  const device = useApi(() => get<Schemas["DeviceOut"]>(`/api/devices/${enc(id)}`), [id]);
  const d = device.data;
  return (
    <>
      <p>
        <a href="#/devices">← all devices</a>
      </p>
      <ErrorBox error={device.error} />
      {d && (
        <>
          <h2>
            {d.device_id} <Badge value={d.status} /> <Badge value={d.online ? "online" : "offline"} />
          </h2>
          <Tabs
            tabs={["overview", "commands", "alerts", "telemetry", "media"]}
            current={tab}
            onTab={(t) => go(["devices", id], { tab: t })}
          />
          {tab === "overview" && <DeviceOverview d={d} reload={device.reload} />}
          {tab === "commands" && <Commands id={id} />}
          {tab === "alerts" && <Alerts deviceId={id} />}
          {tab === "telemetry" && <Telemetry id={id} />}
          {tab === "media" && <Media id={id} />}
        </>
      )}
    </>
  );
}

function DeviceOverview({ d, reload }: { d: Schemas["DeviceOut"]; reload: () => void }) {
  const action = useAction();
  const [shown, setShown] = useState("");
  const act = (verb: "rotate" | "revoke" | "unrevoke") =>
    action.run(async () => {
      const body = verb === "revoke" ? { reason: "revoked from the dashboard" } : verb === "unrevoke" ? {} : undefined;
      const r = await post<Schemas["DeviceProvisioned"] | Schemas["DeviceOut"]>(`/api/devices/${enc(d.device_id)}/${verb}`, body ?? {});
      const token = (r as { device_token?: string }).device_token;
      if (token) setShown(token);
      reload();
      return `${verb}: done`;
    });
  return (
    <>
      <dl class="facts">
        <dt>label</dt>
        <dd>{d.label || "—"}</dd>
        <dt>group</dt>
        <dd>{d.group || "—"}</dd>
        <dt>datasets</dt>
        <dd>{d.datasets.join(", ") || "the fleet's"}</dd>
        <dt>cadence</dt>
        <dd>{d.cadence_seconds ?? "fleet default"} s</dd>
        <dt>last seen</dt>
        <dd>{when(d.last_seen_at)}</dd>
      </dl>
      <h3>Health</h3>
      <Json value={d.health} />
      <div class="actions">
        <button disabled={action.busy} onClick={() => act("rotate")}>
          rotate token
        </button>
        {d.status === "revoked" ? (
          <button disabled={action.busy} onClick={() => act("unrevoke")}>
            unrevoke
          </button>
        ) : (
          <button disabled={action.busy} onClick={() => act("revoke")}>
            revoke
          </button>
        )}
      </div>
      <Outcome message={action.message} error={action.error} />
      {shown && <p class="mono">{shown}</p>}
    </>
  );
}

const KINDS = ["restart_agent", "set_sampling_interval", "rotate_token", "upload_logs", "update_agent"];

function Commands({ id }: { id: string }) {
  const commands = useApi(() => get<Schemas["CommandList"]>(`/api/devices/${enc(id)}/commands`, { limit: 50 }), [id]);
  const [kind, setKind] = useState(KINDS[0]);
  const [params, setParams] = useState("{}");
  const action = useAction();
  const queue = (e: Event) => {
    e.preventDefault();
    action.run(async () => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(params || "{}");
      } catch {
        throw new Error('the parameters are not JSON: write them like {"seconds": 30}');
      }
      const c = await post<Schemas["CommandOut"]>(`/api/devices/${enc(id)}/commands`, { kind, params: parsed });
      commands.reload();
      return `command ${c.kind} queued (${c.command_id})`;
    });
  };
  return (
    <>
      <form class="filters" onSubmit={queue}>
        <label>
          command{" "}
          <select name="kind" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
            {KINDS.map((k) => (
              <option value={k}>{k}</option>
            ))}
          </select>
        </label>
        <label>
          parameters <input name="params" value={params} onInput={(e) => setParams((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" disabled={action.busy}>
          queue command
        </button>
        <button type="button" onClick={commands.reload}>
          refresh
        </button>
      </form>
      <Outcome message={action.message} error={action.error} />
      <ErrorBox error={commands.error} />
      <table data-testid="commands">
        <thead>
          <tr>
            <th>command</th>
            <th>parameters</th>
            <th>status</th>
            <th>by</th>
            <th>created</th>
            <th>expires</th>
          </tr>
        </thead>
        <tbody>
          {commands.data?.items.map((c) => (
            <tr>
              <td>{c.kind}</td>
              <td class="mono small">{JSON.stringify(c.params)}</td>
              <td>
                <Badge value={c.status} />
              </td>
              <td>{c.created_by}</td>
              <td>{when(c.created_at)}</td>
              <td>{when(c.expires_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Telemetry({ id }: { id: string }) {
  const rows = useApi(() => get<Schemas["TelemetryPage"]>(`/api/devices/${enc(id)}/telemetry`, { limit: 500 }), [id]);
  const items = (rows.data?.items ?? []) as Reading[];
  const columns = items.length ? Object.keys(items[0]).filter((c) => !c.startsWith("_")) : [];
  const charts = useMemo(() => {
    const bySensor = new Map<string, { ts: string; value: number }[]>();
    for (const r of items) {
      const value = Number(r.value);
      if (r.event_type !== "reading" || !r.sensor || r.value === null || !Number.isFinite(value)) continue;
      const list = bySensor.get(String(r.sensor)) ?? [];
      list.push({ ts: String(r.ts), value });
      bySensor.set(String(r.sensor), list);
    }
    return [...bySensor.entries()].map(([sensor, points]) => {
      points.sort((a, b) => a.ts.localeCompare(b.ts));
      return { sensor, starts: points.map((p) => p.ts), series: [{ name: sensor, values: points.map((p) => p.value) }] };
    });
  }, [rows.data]);
  return (
    <>
      <ErrorBox error={rows.error} />
      {rows.data && items.length === 0 && <p class="muted">No telemetry loaded for this device yet.</p>}
      <div class="grid">
        {charts.map((c) => (
          <Card title={c.sensor}>
            <TimeChart label={`${c.sensor} readings`} starts={c.starts} series={c.series} height={180} />
          </Card>
        ))}
      </div>
      {items.length > 0 && (
        <details>
          <summary>the latest {items.length} rows</summary>
          <table data-testid="telemetry">
            <thead>
              <tr>
                {columns.map((c) => (
                  <th>{c}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {items.slice(0, 100).map((r) => (
                <tr>
                  {columns.map((c) => (
                    <td class="small">{String(r[c] ?? "")}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </>
  );
}

function Media({ id }: { id: string }) {
  const media = useApi(() => get<Schemas["MediaPage"]>(`/api/devices/${enc(id)}/media`, { limit: 50 }), [id]);
  return (
    <>
      <ErrorBox error={media.error} />
      {media.data && media.data.items.length === 0 && <p class="muted">This device has sent no photo or video.</p>}
      <MediaGrid items={media.data?.items ?? []} />
    </>
  );
}
