import { useMemo } from "preact/hooks";
import { get, type Schemas } from "../api";
import { TimeChart } from "../chart";
import { go, href, type Route } from "../router";
import { Badge, Card, ErrorBox, Loading, num, useApi, when } from "../ui";

const BUCKETS = ["hour", "day", "week"];

export function Trends({ route }: { route: Route }) {
  const bucket = route.query.get("bucket") ?? "day";
  const dataset = route.query.get("dataset") ?? "";
  const device = route.query.get("device") ?? "";
  const q = { bucket, dataset };
  const datasets = useApi(() => get<Schemas["DatasetList"]>("/api/datasets"), []);
  const ingestions = useApi(() => get<Schemas["IngestionTrends"]>("/api/stats/ingestions", q), [bucket, dataset]);
  const drift = useApi(() => get<Schemas["DriftTrends"]>("/api/stats/drift", q), [bucket, dataset]);
  const quarantine = useApi(() => get<Schemas["QuarantineTrends"]>("/api/stats/quarantine", q), [bucket, dataset]);
  // One device: its own files' pass rates (quality/trends) instead of the dataset's.
  const expectations = useApi(
    () =>
      !dataset
        ? Promise.resolve(null)
        : device
          ? get<Schemas["ExpectationTrends"]>("/api/quality/trends", { ...q, device_id: device })
          : get<Schemas["ExpectationTrends"]>("/api/stats/expectations", q),
    [bucket, dataset, device],
  );
  const schemas = useApi(
    () =>
      dataset
        ? get<Schemas["DeviceSchemaPage"]>("/api/drift/devices", { dataset, device_id: device, limit: 100 })
        : Promise.resolve(null),
    [dataset, device],
  );
  const set = (changes: Record<string, string>) => go(["trends"], { bucket, dataset, device, ...changes });

  const ingestionChart = useMemo(() => {
    const b = ingestions.data?.buckets ?? [];
    return {
      starts: b.map((x) => x.start),
      series: [
        { name: "loaded", values: b.map((x) => x.loaded) },
        { name: "failed", values: b.map((x) => x.finished - x.loaded) },
        { name: "success rate %", values: b.map((x) => (x.success_rate === null ? null : Math.round((x.success_rate ?? 0) * 100))) },
      ],
    };
  }, [ingestions.data]);
  const driftChart = useMemo(() => {
    const b = drift.data?.buckets ?? [];
    return { starts: b.map((x) => x.start), series: [{ name: "drift events", values: b.map((x) => x.events) }] };
  }, [drift.data]);
  const quarantineChart = useMemo(() => {
    const b = quarantine.data?.buckets ?? [];
    return { starts: b.map((x) => x.start), series: [{ name: "quarantined rows", values: b.map((x) => x.rows) }] };
  }, [quarantine.data]);

  return (
    <>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          bucket{" "}
          <select name="bucket" value={bucket} onChange={(e) => set({ bucket: (e.target as HTMLSelectElement).value })}>
            {BUCKETS.map((b) => (
              <option value={b}>{b}</option>
            ))}
          </select>
        </label>
        <label>
          dataset{" "}
          <select name="dataset" value={dataset} onChange={(e) => set({ dataset: (e.target as HTMLSelectElement).value })}>
            <option value="">all</option>
            {datasets.data?.items.map((d) => (
              <option value={d.name}>{d.name}</option>
            ))}
          </select>
        </label>
        <label>
          device{" "}
          <input
            name="device"
            value={device}
            placeholder="all devices"
            onChange={(e) => set({ device: (e.target as HTMLInputElement).value.trim() })}
          />
        </label>
        <Loading loading={ingestions.loading} />
      </form>
      <div class="grid">
        <Card title="Ingestions">
          <ErrorBox error={ingestions.error} />
          {ingestions.data && (
            <p data-testid="trend-totals">
              {num(ingestions.data.totals.ingestions)} ingestions, {num(ingestions.data.totals.loaded)} loaded,{" "}
              {num(ingestions.data.totals.rows_loaded)} rows
            </p>
          )}
          {ingestionChart.starts.length > 0 && <TimeChart label="ingestions loaded and failed per bucket" {...ingestionChart} />}
        </Card>
        <Card title="Schema drift events">
          <ErrorBox error={drift.error} />
          {drift.data && <p data-testid="drift-totals">{num(drift.data.totals.events)} event(s)</p>}
          {driftChart.starts.length > 0 && <TimeChart label="drift events per bucket" {...driftChart} />}
        </Card>
        <Card title="Quarantined rows">
          <ErrorBox error={quarantine.error} />
          {quarantine.data && <p>{num(quarantine.data.totals.rows)} row(s)</p>}
          {quarantineChart.starts.length > 0 && <TimeChart label="quarantined rows per bucket" {...quarantineChart} />}
        </Card>
      </div>
      <Card title={device ? `Expectation pass rates of ${device}'s files` : "Expectation pass rates"}>
        {!dataset && <p class="muted">Choose a dataset to see its contract's expectations (and a device for its own).</p>}
        <ErrorBox error={expectations.error} />
        {expectations.data && (
          <table data-testid="expectation-trends">
            <thead>
              <tr>
                <th>expectation</th>
                <th>column</th>
                <th>severity</th>
                <th>evaluated</th>
                <th>pass rate</th>
              </tr>
            </thead>
            <tbody>
              {expectations.data.series.map((s) => (
                <tr>
                  <td>{s.expectation_type}</td>
                  <td>{s.column}</td>
                  <td>{s.severity}</td>
                  <td>{num(s.evaluated)}</td>
                  <td>{s.pass_rate === null ? "—" : `${Math.round((s.pass_rate ?? 0) * 1000) / 10} %`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <Card title="Schemas sent per device">
        <ErrorBox error={schemas.error} />
        {schemas.data && schemas.data.items.length === 0 && <p class="muted">No device sent files of this dataset.</p>}
        {schemas.data && schemas.data.items.length > 0 && (
          <table data-testid="device-schemas">
            <thead>
              <tr>
                <th>device</th>
                <th>schema</th>
                <th>first seen</th>
                <th>last seen</th>
                <th>files</th>
                <th>new schema</th>
              </tr>
            </thead>
            <tbody>
              {schemas.data.items.map((d) => (
                <tr>
                  <td>
                    <a href={href(["trends"], { bucket, dataset, device: d.device_id })}>{d.device_id}</a>
                  </td>
                  <td class="mono small">{d.schema_fingerprint.slice(0, 12)}</td>
                  <td>{when(d.first_seen)}</td>
                  <td>{when(d.last_seen)}</td>
                  <td>{num(d.ingestions)}</td>
                  <td>{d.new_schema ? <Badge value="changed" /> : "no"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}
