import { useEffect } from "preact/hooks";
import { enc, get, post, type Schemas } from "../api";
import { go, href, type Route } from "../router";
import { CuratedSample } from "../sample";
import { Badge, ErrorBox, Json, Loading, num, Outcome, Pager, Tabs, useAction, useApi, when } from "../ui";

const STATUSES: Schemas["Status"][] = [
  "RECEIVED",
  "PROCESSING",
  "LOADED",
  "PARTIALLY_LOADED",
  "QUARANTINED",
  "REJECTED",
  "FAILED_DRIFT",
  "FAILED_READ",
  "FAILED_QUALITY",
  "FAILED_CONTRACT",
  "FAILED_EXCEPTION",
  "FAILED_MAX_ATTEMPTS",
];
const LIMIT = 50;

export function Ingestions({ route }: { route: Route }) {
  const id = route.parts[1];
  return id ? <IngestionDetail id={id} /> : <IngestionList route={route} />;
}

function IngestionList({ route }: { route: Route }) {
  const status = route.query.get("status") ?? "";
  const dataset = route.query.get("dataset") ?? "";
  const source = route.query.get("source") ?? "";
  const offset = Number(route.query.get("offset") ?? 0) || 0;
  const page = useApi(
    () => get<Schemas["IngestionPage"]>("/api/ingestions", { status, dataset, source, offset, limit: LIMIT }),
    [status, dataset, source, offset],
  );
  const inFlight = page.data?.items.some((i) => i.status === "RECEIVED" || i.status === "PROCESSING");
  useEffect(() => {
    if (!inFlight) return;
    const timer = setInterval(page.reload, 2000); // live progress of the ones in flight
    return () => clearInterval(timer);
  }, [inFlight]);
  const filter = (changes: Record<string, string>) =>
    go(["ingestions"], { status, dataset, source, ...changes, offset: undefined });
  return (
    <>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          state{" "}
          <select name="status" value={status} onChange={(e) => filter({ status: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          dataset{" "}
          <input
            name="dataset"
            value={dataset}
            onChange={(e) => filter({ dataset: (e.target as HTMLInputElement).value.trim() })}
          />
        </label>
        <label>
          source{" "}
          <input
            name="source"
            value={source}
            placeholder="api, demo, watcher…"
            onChange={(e) => filter({ source: (e.target as HTMLInputElement).value.trim() })}
          />
        </label>
        <Loading loading={page.loading} />
      </form>
      <ErrorBox error={page.error} />
      {page.data && (
        <>
          <table data-testid="ingestions">
            <thead>
              <tr>
                <th>file</th>
                <th>dataset</th>
                <th>state</th>
                <th>rows loaded / total</th>
                <th>source</th>
                <th>created</th>
              </tr>
            </thead>
            <tbody>
              {page.data.items.map((i) => (
                <tr>
                  <td>
                    <a href={href(["ingestions", i.id])}>{i.filename}</a>
                  </td>
                  <td>{i.dataset}</td>
                  <td>
                    <Badge value={i.status} />
                  </td>
                  <td>
                    {i.status === "PROCESSING"
                      ? `${num(i.rows_processed ?? 0)} read so far…`
                      : `${num(i.rows_loaded)} / ${num(i.rows_total)}`}
                  </td>
                  <td>{i.source}</td>
                  <td>{when(i.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager
            offset={offset}
            limit={LIMIT}
            total={page.data.total}
            onOffset={(o) => go(["ingestions"], { status, dataset, source, offset: o || undefined })}
          />
        </>
      )}
    </>
  );
}

const TABS = ["overview", "audit", "quality", "drift", "lineage", "quarantined rows", "curated preview"];

function IngestionDetail({ id }: { id: string }) {
  const tab = new URLSearchParams(location.hash.split("?")[1] ?? "").get("tab") ?? "overview";
  const detail = useApi(() => get<Schemas["IngestionDetail"]>(`/api/ingestions/${enc(id)}`), [id]);
  const d = detail.data;
  const inFlight = d && (d.status === "RECEIVED" || d.status === "PROCESSING");
  useEffect(() => {
    if (!inFlight) return;
    const timer = setInterval(detail.reload, 1000);
    return () => clearInterval(timer);
  }, [inFlight]);
  return (
    <>
      <p>
        <a href="#/ingestions">← all ingestions</a>
      </p>
      <ErrorBox error={detail.error} />
      {d && (
        <>
          <h2>
            {d.filename} <Badge value={d.status} />
          </h2>
          <Tabs tabs={TABS} current={tab} onTab={(t) => go(["ingestions", id], { tab: t })} />
          {tab === "overview" && <Overview d={d} reload={detail.reload} />}
          {tab === "audit" && <AuditTrail id={id} />}
          {tab === "quality" && <Quality report={d.quality} />}
          {tab === "drift" && <Drift record={d.drift} />}
          {tab === "lineage" && <Lineage d={d} />}
          {tab === "quarantined rows" && <HeldRows id={id} />}
          {tab === "curated preview" && <CuratedSample dataset={d.dataset} ingestionId={id} />}
        </>
      )}
    </>
  );
}

function Overview({ d, reload }: { d: Schemas["IngestionDetail"]; reload: () => void }) {
  const action = useAction();
  const error = d.error as { code?: string; message?: string; hint?: string } | null;
  const act = (verb: "replay" | "approve" | "reject") =>
    action.run(async () => {
      const body = verb === "replay" ? undefined : { note: `${verb} from the dashboard` };
      const r = await post<{ id?: string; status?: string }>(`/api/ingestions/${enc(d.id)}/${verb}`, body ?? {});
      reload();
      return verb === "replay" && r.id ? `replayed as ingestion ${r.id}` : `${verb}: done (${r.status ?? "ok"})`;
    });
  return (
    <>
      {error && (
        <div class="error" data-testid="ingestion-error">
          <strong>{error.code}</strong>: {error.message}
          {error.hint && <div>{error.hint}</div>}
        </div>
      )}
      <dl class="facts" data-testid="ingestion-facts">
        <dt>id</dt>
        <dd>{d.id}</dd>
        <dt>dataset</dt>
        <dd>
          <a href={href(["datasets", d.dataset])}>{d.dataset}</a>
        </dd>
        <dt>rows</dt>
        <dd>
          {d.status === "PROCESSING" && <span data-testid="rows-processed">{num(d.rows_processed ?? 0)} read so far; </span>}
          {num(d.rows_loaded)} loaded, {num(d.rows_rejected)} rejected, {num(d.rows_quarantined)} held of{" "}
          {num(d.rows_total)}
        </dd>
        <dt>size</dt>
        <dd>{num(d.size_bytes)} bytes</dd>
        <dt>sha256</dt>
        <dd class="mono">{d.sha256}</dd>
        <dt>source</dt>
        <dd>
          {d.source} by {d.created_by}
        </dd>
        <dt>contract</dt>
        <dd class="mono">{d.contract_version ?? "—"}</dd>
        <dt>attempts</dt>
        <dd>
          {d.attempts} of {d.max_attempts}
        </dd>
        <dt>created / finished</dt>
        <dd>
          {when(d.created_at)} / {when(d.finished_at)}
        </dd>
      </dl>
      <div class="actions">
        <button disabled={action.busy} onClick={() => act("replay")}>
          replay
        </button>
        {d.status === "QUARANTINED" && (
          <>
            <button disabled={action.busy} onClick={() => act("approve")}>
              approve
            </button>
            <button disabled={action.busy} onClick={() => act("reject")}>
              reject
            </button>
          </>
        )}
      </div>
      <Outcome message={action.message} error={action.error} />
    </>
  );
}

function AuditTrail({ id }: { id: string }) {
  const events = useApi(() => get<Schemas["AuditPage"]>("/api/audit_events", { entity_id: id, limit: 200 }), [id]);
  return (
    <>
      <ErrorBox error={events.error} />
      <table data-testid="audit-trail">
        <thead>
          <tr>
            <th>at</th>
            <th>action</th>
            <th>actor</th>
            <th>details</th>
          </tr>
        </thead>
        <tbody>
          {events.data?.items.map((e) => (
            <tr>
              <td>{when(e.at)}</td>
              <td>{e.action}</td>
              <td>{e.actor}</td>
              <td class="mono small">{JSON.stringify(e.details)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

interface ExpectationResult {
  expectation_type?: string;
  type?: string;
  column?: string;
  success?: boolean;
  unexpected_count?: number;
  failing_rows?: unknown[];
  engine?: string;
  [key: string]: unknown;
}

function Quality({ report }: { report: Record<string, unknown> | null | undefined }) {
  if (!report) return <p class="muted">No quality report (the file did not reach the quality gate).</p>;
  const results = (report.results ?? report.expectations ?? []) as ExpectationResult[];
  return (
    <>
      {Array.isArray(results) && results.length > 0 && (
        <table data-testid="quality-results">
          <thead>
            <tr>
              <th>expectation</th>
              <th>column</th>
              <th>result</th>
              <th>failing rows</th>
              <th title="compiled: pyarrow with Great Expectations' verdicts; gx: Great Expectations">engine</th>
            </tr>
          </thead>
          <tbody>
            {results.map((r) => (
              <tr>
                <td>{r.expectation_type ?? r.type}</td>
                <td>{r.column ?? "—"}</td>
                <td>
                  <Badge value={r.success ? "ok" : "failed"} />
                </td>
                <td class="mono small">
                  {num(r.unexpected_count)} {r.failing_rows ? JSON.stringify(r.failing_rows).slice(0, 300) : ""}
                </td>
                <td class="small">{r.engine ?? "gx"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <details>
        <summary>the whole report</summary>
        <Json value={report} />
      </details>
    </>
  );
}

interface DriftChange {
  kind?: string;
  column?: string;
  before?: unknown;
  after?: unknown;
  mode?: string;
  breaking?: boolean;
}

function Drift({ record }: { record: Record<string, unknown> | null | undefined }) {
  if (!record) return <p class="muted">No drift record (the file was not read far enough to compare its schema).</p>;
  const decision = (record.decision ?? {}) as { outcome?: string; reason?: string; changes?: DriftChange[] };
  const changes = decision.changes ?? [];
  return (
    <>
      <p>
        decision: <Badge value={decision.outcome === "accept" ? "ok" : decision.outcome ?? "unknown"} /> {decision.outcome}
        {decision.reason && <span> — {decision.reason}</span>}
      </p>
      {changes.length === 0 && <p class="muted">The schema matched the dataset's: no change.</p>}
      {changes.length > 0 && (
        <table data-testid="drift-changes">
          <thead>
            <tr>
              <th>change</th>
              <th>column</th>
              <th>before</th>
              <th>after</th>
              <th>policy</th>
              <th>breaking</th>
            </tr>
          </thead>
          <tbody>
            {changes.map((c) => (
              <tr>
                <td>{c.kind}</td>
                <td class="mono">{c.column}</td>
                <td class="mono">{JSON.stringify(c.before ?? null)}</td>
                <td class="mono">{JSON.stringify(c.after ?? null)}</td>
                <td>{c.mode}</td>
                <td>{c.breaking ? "yes" : "no"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <details>
        <summary>the whole drift record</summary>
        <Json value={record} />
      </details>
    </>
  );
}

function Lineage({ d }: { d: Schemas["IngestionDetail"] }) {
  const table = `curated_${d.dataset}`;
  return (
    <>
      <ol class="lineage" data-testid="lineage">
        <li>
          raw file <span class="mono">{d.raw_key}</span>
        </li>
        <li>
          ingestion <span class="mono">{d.id}</span> <Badge value={d.status} />
        </li>
        <li>
          curated table <span class="mono">{table}</span> ({num(d.rows_loaded)} rows)
        </li>
      </ol>
      {d.lineage ? <Json value={d.lineage} /> : <p class="muted">No OpenLineage event recorded yet.</p>}
    </>
  );
}

function HeldRows({ id }: { id: string }) {
  const rows = useApi(() => get<Schemas["QuarantinePage"]>("/api/quarantine", { ingestion_id: id, limit: 100 }), [id]);
  return (
    <>
      <ErrorBox error={rows.error} />
      {rows.data && rows.data.items.length === 0 && <p class="muted">No row of this file is held.</p>}
      {rows.data && rows.data.items.length > 0 && (
        <table data-testid="held-rows">
          <thead>
            <tr>
              <th>row</th>
              <th>status</th>
              <th>failures</th>
              <th>values</th>
            </tr>
          </thead>
          <tbody>
            {rows.data.items.map((r) => (
              <tr>
                <td>{r.source_row}</td>
                <td>
                  <Badge value={r.status} />
                </td>
                <td class="small">{JSON.stringify(r.failures)}</td>
                <td class="mono small">{JSON.stringify(r.values)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
