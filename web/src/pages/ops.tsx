import { useState } from "preact/hooks";
import { get, post, type Schemas } from "../api";
import { loadConfig } from "../config";
import { Card, ErrorBox, Json, Loading, num, Outcome, useAction, useApi } from "../ui";

export function Ops() {
  const ready = useApi(() => get<Schemas["Ready"]>("/readyz"), []);
  const config = useApi(() => loadConfig(), []);
  const stats = useApi(() => get<Schemas["IngestionTrends"]>("/api/stats/ingestions", { bucket: "day" }), []);
  const statuses = (stats.data?.totals.statuses ?? {}) as Record<string, number>;
  return (
    <div class="grid">
      <Card title="Readiness">
        <ErrorBox error={ready.error} />
        {ready.data && (
          <p data-testid="readiness">
            {ready.data.status}: database {ready.data.checks.database}
          </p>
        )}
      </Card>
      <Card title="Queue">
        <ErrorBox error={stats.error} />
        <p data-testid="queue">
          {num(statuses.RECEIVED ?? 0)} waiting, {num(statuses.PROCESSING ?? 0)} processing (last 30 days)
        </p>
      </Card>
      <Card title="Dashboard configuration">
        <p class="muted small">What this dashboard was given in /config.json (no secrets).</p>
        {config.data && <Json value={config.data} />}
        <p>
          <a href="api/docs">Interactive API reference</a> · <a href="api/openapi.json">OpenAPI document</a>
        </p>
      </Card>
      <ServerConfig />
      <DatabaseSize />
      <Reclaim />
      <Prune />
    </div>
  );
}

function ServerConfig() {
  const config = useApi(() => get<Schemas["RuntimeConfig"]>("/api/ops/config"), []);
  const settings = Object.entries(config.data?.settings ?? {});
  return (
    <Card title="Runtime configuration">
      <p class="muted small">
        The settings the server runs with. Secrets show only as <span class="mono">[redacted]</span> (set) or empty (unset);
        passwords are cut out of URLs.
      </p>
      <ErrorBox error={config.error} />
      <Loading loading={config.loading} />
      {config.data && (
        <table data-testid="runtime-config">
          <thead>
            <tr>
              <th>setting</th>
              <th>value</th>
            </tr>
          </thead>
          <tbody>
            {settings.map(([name, value]) => (
              <tr>
                <td class="mono">{name}</td>
                <td class="mono">{value === null ? "" : typeof value === "string" ? value : JSON.stringify(value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function DatabaseSize() {
  const sizes = useApi(() => get<Schemas["DatabaseSizes"]>("/api/ops/database"), []);
  return (
    <Card title="Database size">
      <ErrorBox error={sizes.error} />
      <Loading loading={sizes.loading} />
      {sizes.data && (
        <>
          <p data-testid="database-total">
            {num(sizes.data.total)} tables, {bytes(sizes.data.total_bytes)} in all
          </p>
          <table data-testid="database-sizes">
            <thead>
              <tr>
                <th>table</th>
                <th>rows (estimate)</th>
                <th>size</th>
              </tr>
            </thead>
            <tbody>
              {sizes.data.items.map((t) => (
                <tr>
                  <td class="mono">
                    {t.schema}.{t.table}
                  </td>
                  <td>{t.rows_estimate === null ? "not analysed yet" : num(t.rows_estimate)}</td>
                  <td>{bytes(t.total_bytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Card>
  );
}

function bytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function Reclaim() {
  const action = useAction();
  const reclaim = () =>
    action.run(async () => {
      const r = await post<Schemas["ReclaimReport"]>("/internal/admin/reclaim", { requested_by: "dashboard" });
      return `reclaim: ${r.stale.length} stale, ${r.unqueued.length} re-delivered, ${r.retried.length} retried`;
    });
  return (
    <Card title="Reclaim stuck work (admin)">
      <p class="muted small">Stale claims are failed and queued again, lost deliveries re-delivered, failed attempts retried.</p>
      <button disabled={action.busy} onClick={reclaim}>
        run reclaim
      </button>
      <Outcome message={action.message} error={action.error} />
    </Card>
  );
}

function Prune() {
  const [days, setDays] = useState(30);
  const [plan, setPlan] = useState<Schemas["PruneReport"] | null>(null);
  const action = useAction();
  const dryRun = () =>
    action.run(async () => {
      const r = await post<Schemas["PruneReport"]>("/internal/admin/prune", { older_than_days: days, apply: false, requested_by: "dashboard" });
      setPlan(r);
      return `dry run: would delete ${r.ingestions} ingestion(s), ${r.artifacts} artifact(s), ${r.audit_events} audit event(s)`;
    });
  const apply = () =>
    action.run(async () => {
      const r = await post<Schemas["PruneReport"]>("/internal/admin/prune", { older_than_days: days, apply: true, requested_by: "dashboard" });
      setPlan(null);
      return `pruned ${r.ingestions} ingestion(s) older than ${r.older_than_days} days`;
    });
  return (
    <Card title="Prune retention (admin)">
      <label>
        older than{" "}
        <input
          type="number"
          name="older_than_days"
          min={1}
          value={days}
          onInput={(e) => {
            setDays(Number((e.target as HTMLInputElement).value));
            setPlan(null);
          }}
        />{" "}
        days
      </label>
      <div class="actions">
        <button disabled={action.busy} onClick={dryRun}>
          dry run
        </button>
        <button disabled={action.busy || !plan} onClick={apply} title="run the dry run first">
          prune for real
        </button>
      </div>
      <Outcome message={action.message} error={action.error} />
    </Card>
  );
}
