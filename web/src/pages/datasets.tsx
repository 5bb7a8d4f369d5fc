import { useEffect, useState } from "preact/hooks";
import { enc, get, post, put, type Schemas } from "../api";
import { go, href, type Route } from "../router";
import { CuratedSample } from "../sample";
import { asApiError, Badge, ErrorBox, Json, Loading, num, Outcome, Tabs, useAction, useApi, when } from "../ui";

export function Datasets({ route }: { route: Route }) {
  const name = route.parts[1];
  return name ? <DatasetDetail name={name} tab={route.query.get("tab") ?? "contract"} /> : <DatasetList />;
}

function DatasetList() {
  const datasets = useApi(() => get<Schemas["DatasetList"]>("/api/datasets"), []);
  return (
    <>
      <ErrorBox error={datasets.error} />
      <Loading loading={datasets.loading} />
      <table data-testid="datasets">
        <thead>
          <tr>
            <th>dataset</th>
            <th>contract</th>
            <th>ingestions</th>
            <th>last ingestion</th>
            <th>curated table</th>
            <th>primary key</th>
          </tr>
        </thead>
        <tbody>
          {datasets.data?.items.map((d) => (
            <tr>
              <td>
                <a href={href(["datasets", d.name])}>{d.name}</a>
              </td>
              <td class="mono small">{d.has_contract ? d.contract_version?.slice(0, 12) ?? "—" : "none"}</td>
              <td>
                <a href={href(["ingestions"], { dataset: d.name })}>{num(d.ingestions)}</a>
              </td>
              <td>{when(d.last_ingestion_at)}</td>
              <td class="mono">{d.curated_table ?? "—"}</td>
              <td>{(d.primary_key ?? []).join(", ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        Their published views: <a href="#/products">Products</a>.
      </p>
    </>
  );
}

function DatasetDetail({ name, tab }: { name: string; tab: string }) {
  return (
    <>
      <p>
        <a href="#/datasets">← all datasets</a>
      </p>
      <h2>{name}</h2>
      <Tabs tabs={["contract", "history", "schemas", "sample"]} current={tab} onTab={(t) => go(["datasets", name], { tab: t })} />
      {tab === "contract" && <ContractEditor name={name} />}
      {tab === "history" && <ContractHistory name={name} />}
      {tab === "schemas" && <SchemaHistory name={name} />}
      {tab === "sample" && <CuratedSample dataset={name} />}
    </>
  );
}

function ContractEditor({ name }: { name: string }) {
  const contract = useApi(() => get<Schemas["ContractDetail"]>(`/api/contracts/${enc(name)}`), [name]);
  const [text, setText] = useState("");
  const [note, setNote] = useState("");
  const [validation, setValidation] = useState<Schemas["ContractValidation"] | null>(null);
  const [dryRun, setDryRun] = useState<Schemas["DryRunReport"] | null>(null);
  const action = useAction();
  useEffect(() => {
    if (contract.data) setText(JSON.stringify(contract.data.suite, null, 2));
  }, [contract.data?.version]);

  const parsed = (): Record<string, unknown> => {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Error(`the contract is not valid JSON: ${(e as Error).message}`);
    }
  };
  const validate = () =>
    action.run(async () => {
      setDryRun(null);
      const v = await post<Schemas["ContractValidation"]>(`/api/contracts/${enc(name)}/validate`, { suite: parsed() });
      setValidation(v);
      return v.valid ? `valid: ${v.changes.length} change(s) from the current version` : "";
    });
  const runDry = () =>
    action.run(async () => {
      const r = await post<Schemas["DryRunReport"]>(`/api/contracts/${enc(name)}/dry_run`, { suite: parsed(), last: 5 });
      setDryRun(r);
      return `dry run over ${r.summary.evaluated} file(s): nothing was written`;
    });
  const save = () =>
    action.run(async () => {
      const saved = await put<Schemas["ContractSaved"]>(`/api/contracts/${enc(name)}`, {
        suite: parsed(),
        base_version: contract.data?.version ?? null,
        note: note || null,
      });
      contract.reload();
      setValidation(null);
      return saved.changed ? `saved as version ${saved.version}` : "nothing changed: that is already the current version";
    });
  const verror = validation && !validation.valid ? (validation.error as { message?: string; hint?: string } | null) : null;
  return (
    <>
      <ErrorBox error={contract.error} />
      {contract.data && (
        <p class="muted">
          version <span class="mono" data-testid="contract-version">{contract.data.version}</span> ({contract.data.source}
          , adopted by {contract.data.adopted_by ?? "—"} at {when(contract.data.adopted_at)}). Validating and
          the dry run never save; the dry run needs an operator token, saving an admin token.
        </p>
      )}
      <textarea
        name="suite"
        aria-label="contract (Great Expectations suite JSON)"
        rows={22}
        value={text}
        spellcheck={false}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
      />
      <div class="actions">
        <button disabled={action.busy} onClick={validate}>
          validate
        </button>
        <button disabled={action.busy} onClick={runDry}>
          dry run on the last 5 files
        </button>
        <label>
          note <input name="note" value={note} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
        </label>
        <button disabled={action.busy} onClick={save}>
          save
        </button>
      </div>
      <Outcome message={action.message} error={action.error} />
      {verror && (
        <div class="error" role="alert" data-testid="validation-error">
          {verror.message}
          {verror.hint && <div>{verror.hint}</div>}
        </div>
      )}
      {validation?.valid && validation.changes.length > 0 && (
        <ul data-testid="contract-changes">
          {validation.changes.map((c) => (
            <li>
              {c.kind} <span class="mono">{c.path}</span>
            </li>
          ))}
        </ul>
      )}
      {dryRun && <DryRun report={dryRun} />}
    </>
  );
}

function DryRun({ report }: { report: Schemas["DryRunReport"] }) {
  const s = report.summary;
  return (
    <div data-testid="dry-run">
      <p>
        {s.evaluated} of {s.files} file(s) evaluated ({s.skipped} skipped): would load {num(s.rows_would_load)} rows (loaded
        now: {num(s.rows_loaded_actually)}); {s.files_changing_status} file(s) would change state.
      </p>
      <table>
        <thead>
          <tr>
            <th>file</th>
            <th>now</th>
            <th>would be</th>
            <th>differences</th>
          </tr>
        </thead>
        <tbody>
          {report.items.map((f) => (
            <tr>
              <td>
                <a href={href(["ingestions", f.ingestion_id])}>{f.filename}</a>
              </td>
              <td>
                <Badge value={String(f.actual.status ?? "")} />
              </td>
              <td>{f.would ? <Badge value={String(f.would.status ?? "")} /> : f.skipped}</td>
              <td class="small mono">{JSON.stringify(f.differences)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ContractHistory({ name }: { name: string }) {
  const contract = useApi(() => get<Schemas["ContractDetail"]>(`/api/contracts/${enc(name)}`), [name]);
  const [diff, setDiff] = useState<Schemas["ContractDiff"] | null>(null);
  const [error, setError] = useState<ReturnType<typeof asApiError> | null>(null);
  const showDiff = async (to: string) => {
    try {
      setDiff(await get<Schemas["ContractDiff"]>(`/api/contracts/${enc(name)}/diff`, { to }));
      setError(null);
    } catch (e) {
      setError(asApiError(e));
    }
  };
  return (
    <>
      <ErrorBox error={contract.error ?? error} />
      <table data-testid="contract-history">
        <thead>
          <tr>
            <th>version</th>
            <th>source</th>
            <th>adopted by</th>
            <th>at</th>
            <th>note</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {contract.data?.history.map((h) => (
            <tr>
              <td class="mono small">{h.version}</td>
              <td>{h.source}</td>
              <td>{h.adopted_by}</td>
              <td>{when(h.adopted_at)}</td>
              <td>{h.note ?? ""}</td>
              <td>
                <button onClick={() => showDiff(h.version)}>changes</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {diff && (
        <div data-testid="contract-diff">
          <h3>
            {diff.from ?? "(first)"} → {diff.to}
          </h3>
          {diff.changes.length === 0 && <p class="muted">No change.</p>}
          <ul>
            {diff.changes.map((c) => (
              <li>
                {c.kind} <span class="mono">{c.path}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </>
  );
}

function SchemaHistory({ name }: { name: string }) {
  const schemas = useApi(() => get<Schemas["SchemaHistory"]>(`/api/datasets/${enc(name)}/schemas`), [name]);
  return (
    <>
      <ErrorBox error={schemas.error} />
      {schemas.data?.items.length === 0 && <p class="muted">No schema accepted yet.</p>}
      {schemas.data?.items.map((s) => (
        <details>
          <summary>
            version {s.version} · {s.reason} · {s.accepted_by} · {when(s.accepted_at)}
          </summary>
          <Json value={s.schema} />
        </details>
      ))}
    </>
  );
}
