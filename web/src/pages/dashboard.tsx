import { useMemo } from "preact/hooks";
import { get, post, type Schemas } from "../api";
import { TimeChart } from "../chart";
import { loadConfig } from "../config";
import { href } from "../router";
import { Badge, Card, ErrorBox, Loading, num, Outcome, useAction, useApi, when } from "../ui";

const FAILED = "FAILED_READ,FAILED_DRIFT,FAILED_QUALITY,FAILED_CONTRACT,FAILED_EXCEPTION,FAILED_MAX_ATTEMPTS,REJECTED";
const IN_FLIGHT = ["RECEIVED", "PROCESSING"];

export function Dashboard() {
  const stats = useApi(() => get<Schemas["IngestionTrends"]>("/api/stats/ingestions", { bucket: "day" }), []);
  const failures = useApi(
    () => get<Schemas["IngestionPage"]>("/api/ingestions", { status: FAILED, limit: 10 }),
    [],
  );
  const datasets = useApi(() => get<Schemas["DatasetList"]>("/api/datasets"), []);
  const totals = stats.data?.totals;
  const statuses = (totals?.statuses ?? {}) as Record<string, number>;
  const backlog = IN_FLIGHT.reduce((n, s) => n + (statuses[s] ?? 0), 0);
  const chart = useMemo(() => {
    const buckets = stats.data?.buckets ?? [];
    return {
      starts: buckets.map((b) => b.start),
      series: [
        { name: "ingestions", values: buckets.map((b) => b.ingestions) },
        { name: "loaded", values: buckets.map((b) => b.loaded) },
      ],
    };
  }, [stats.data]);
  return (
    <div class="grid">
      <Card title="Last 30 days">
        <ErrorBox error={stats.error} />
        <Loading loading={stats.loading} />
        {totals && (
          <dl class="figures" data-testid="totals">
            <div>
              <dt>ingestions</dt>
              <dd data-testid="total-ingestions">{num(totals.ingestions)}</dd>
            </div>
            <div>
              <dt>success rate</dt>
              <dd>{totals.success_rate === null ? "—" : `${Math.round((totals.success_rate ?? 0) * 1000) / 10} %`}</dd>
            </div>
            <div>
              <dt>rows loaded</dt>
              <dd>{num(totals.rows_loaded)}</dd>
            </div>
            <div>
              <dt>backlog</dt>
              <dd>{num(backlog)}</dd>
            </div>
          </dl>
        )}
        <ul class="statuses" data-testid="status-counts">
          {Object.entries(statuses).map(([status, n]) => (
            <li>
              <a href={href(["ingestions"], { status })}>
                <Badge value={status} /> {num(n)}
              </a>
            </li>
          ))}
        </ul>
      </Card>
      <Card title="Throughput per day">
        {chart.starts.length > 0 && <TimeChart label="ingestions and loaded per day" {...chart} />}
      </Card>
      <Card title="Recent failures">
        <ErrorBox error={failures.error} />
        {failures.data && failures.data.items.length === 0 && <p class="muted">No failed ingestion.</p>}
        <ul class="plain" data-testid="recent-failures">
          {failures.data?.items.map((i) => (
            <li>
              <a href={href(["ingestions", i.id])}>{i.filename}</a> <Badge value={i.status} />{" "}
              <span class="muted">
                {i.dataset} · {when(i.created_at)}
              </span>
              {i.error && <div class="muted small">{String((i.error as { message?: string }).message ?? "")}</div>}
            </li>
          ))}
        </ul>
      </Card>
      <Card title="Quick actions">
        <p>
          <a href="#/ingest">Upload a file</a> · <a href="#/quarantine">Review held rows</a> ·{" "}
          <a href="#/ops">Operations</a>
        </p>
        <SeedDemo datasets={(datasets.data?.items ?? []).map((d) => d.name)} />
      </Card>
    </div>
  );
}

function SeedDemo({ datasets }: { datasets: string[] }) {
  const action = useAction();
  const seed = (dataset: string) =>
    action.run(async () => {
      const config = await loadConfig();
      if (config.mode !== "local") throw new Error("demo seeding works in local mode only");
      const r = await post<Schemas["SeedResult"]>(`/api/demo/seed/${encodeURIComponent(dataset)}`);
      return `seeded ${dataset}: ${r.total} ingestion(s), ${r.rows} rows queued`;
    });
  return (
    <div>
      <p class="muted small">Seed demo data (local mode, operator token):</p>
      {datasets.map((d) => (
        <button disabled={action.busy} onClick={() => seed(d)}>
          seed {d}
        </button>
      ))}
      <Outcome message={action.message} error={action.error} />
    </div>
  );
}
