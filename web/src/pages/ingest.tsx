import { useEffect, useState } from "preact/hooks";
import { enc, get, post, type Schemas, upload } from "../api";
import { href } from "../router";
import { asApiError, Badge, Card, ErrorBox, Outcome, useAction, useApi } from "../ui";
import type { ApiError } from "../api";

const DONE = new Set(["RECEIVED", "PROCESSING"]);

export function Ingest() {
  const datasets = useApi(() => get<Schemas["DatasetList"]>("/api/datasets"), []);
  const [dataset, setDataset] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [registered, setRegistered] = useState<Schemas["Registered"] | null>(null);
  const [status, setStatus] = useState<string>("");
  const [failFast, setFailFast] = useState(false);
  const names = (datasets.data?.items ?? []).filter((d) => d.has_contract).map((d) => d.name);
  const chosen = dataset || names[0] || "";

  useEffect(() => {
    if (!registered || !DONE.has(status)) return;
    const timer = setInterval(async () => {
      try {
        const d = await get<Schemas["Ingestion"]>(`/api/ingestions/${enc(registered.id)}`);
        setStatus(d.status);
      } catch (e) {
        setError(asApiError(e));
      }
    }, 1000);
    return () => clearInterval(timer);
  }, [registered, status]);

  const send = async (e: Event) => {
    e.preventDefault();
    if (!file || !chosen) return;
    setError(null);
    setRegistered(null);
    setProgress(0);
    try {
      const r = await upload(file, { dataset: chosen, filename: file.name, source: "dashboard", fail_fast: failFast || undefined }, setProgress);
      setRegistered(r);
      setStatus(r.status);
    } catch (err) {
      setError(asApiError(err));
      setProgress(null);
    }
  };
  return (
    <>
      <p class="muted">
        Upload a file (CSV, TSV, XLSX, JSON, NDJSON, Parquet) into a dataset. It needs an operator or admin
        token. The file's exact bytes are kept in the raw landing; its progress shows below.
      </p>
      <ErrorBox error={datasets.error} />
      <form class="upload" onSubmit={send}>
        <label>
          dataset{" "}
          <select name="dataset" value={chosen} onChange={(e) => setDataset((e.target as HTMLSelectElement).value)}>
            {names.map((n) => (
              <option value={n}>{n}</option>
            ))}
          </select>
        </label>
        <label>
          file <input type="file" name="file" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
        </label>
        <label title="CSV and NDJSON: the header is checked against the contract and drift policy as it arrives; a rejected header lands nothing">
          <input type="checkbox" name="fail_fast" checked={failFast} onChange={() => setFailFast(!failFast)} /> check the header
          first (CSV, NDJSON)
        </label>
        <button type="submit" disabled={!file || !chosen || (progress !== null && progress < 1 && !error)}>
          upload
        </button>
      </form>
      {progress !== null && (
        <p>
          <progress max={1} value={progress} data-testid="upload-progress" aria-label="upload progress" />{" "}
          <span data-testid="upload-percent">{Math.round(progress * 100)} %</span>
        </p>
      )}
      <ErrorBox error={error} />
      {registered && (
        <div class="ok" role="status" data-testid="upload-result">
          {registered.deduplicated
            ? registered.duplicate?.message ?? "these bytes were already registered"
            : `registered as ingestion ${registered.id}`}{" "}
          — <Badge value={status} /> <a href={href(["ingestions", registered.id])}>open it</a>
        </div>
      )}
      <div class="grid">
        <SignedUrl datasets={names} />
        <Backfill />
      </div>
    </>
  );
}

/** Mint a create-only signed PUT into the landing bucket; the PUT itself runs outside the browser. */
function SignedUrl({ datasets }: { datasets: string[] }) {
  const [dataset, setDataset] = useState("");
  const [filename, setFilename] = useState("");
  const [signed, setSigned] = useState<Schemas["SignedUpload"] | null>(null);
  const action = useAction();
  const chosen = dataset || datasets[0] || "";
  const mint = (e: Event) => {
    e.preventDefault();
    setSigned(null);
    action.run(async () => {
      const r = await post<Schemas["SignedUpload"]>("/api/uploads/signed_url", { dataset: chosen, filename });
      setSigned(r);
      return `signed URL for gs://${r.bucket}/${r.object_name}, valid until ${r.expires_at}`;
    });
  };
  const curl = signed
    ? ["curl -X PUT --data-binary @" + JSON.stringify(filename), ...Object.entries(signed.headers).map(([k, v]) => `-H ${JSON.stringify(`${k}: ${v}`)}`), JSON.stringify(signed.url)].join(" \\\n  ")
    : "";
  return (
    <Card title="Signed-URL upload (GCS landing)">
      <p class="muted small">
        For a large file: the bytes go straight to the landing bucket with a create-only signed PUT, and the bucket's
        finalize event registers them. Needs an operator token and the GCS landing.
      </p>
      <form onSubmit={mint}>
        <label>
          dataset{" "}
          <select name="signed_dataset" value={chosen} onChange={(e) => setDataset((e.target as HTMLSelectElement).value)}>
            {datasets.map((n) => (
              <option value={n}>{n}</option>
            ))}
          </select>
        </label>{" "}
        <label>
          file name{" "}
          <input name="signed_filename" value={filename} placeholder="parcels.csv" onInput={(e) => setFilename((e.target as HTMLInputElement).value)} />
        </label>{" "}
        <button type="submit" disabled={action.busy || !chosen || !filename}>
          get signed URL
        </button>
      </form>
      <Outcome message={action.message} error={action.error} />
      {signed && (
        <>
          <p class="small">PUT the file with every header exactly (a second PUT of the same name is refused):</p>
          <pre class="json" data-testid="signed-curl">{curl}</pre>
        </>
      )}
    </Card>
  );
}

/** Register an object that is already in the landing bucket (POST /api/uploads/backfill). */
function Backfill() {
  const [name, setName] = useState("");
  const [bucket, setBucket] = useState("");
  const [registered, setRegistered] = useState<Schemas["Registered"] | null>(null);
  const action = useAction();
  const run = (e: Event) => {
    e.preventDefault();
    setRegistered(null);
    action.run(async () => {
      const r = await post<Schemas["Registered"]>("/api/uploads/backfill", { name, bucket: bucket || undefined });
      setRegistered(r);
      return r.deduplicated ? `already registered as ingestion ${r.id}` : `registered as ingestion ${r.id}`;
    });
  };
  return (
    <Card title="Backfill from GCS">
      <p class="muted small">
        Register an object already in the bucket (it landed before the trigger existed, or its event was lost).
        Registering the same object twice gives one ingestion.
      </p>
      <form onSubmit={run}>
        <label>
          object name{" "}
          <input name="backfill_name" value={name} placeholder="uploads/parcels/p.csv" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>{" "}
        <label>
          bucket{" "}
          <input name="backfill_bucket" value={bucket} placeholder="(the configured bucket)" onInput={(e) => setBucket((e.target as HTMLInputElement).value)} />
        </label>{" "}
        <button type="submit" disabled={action.busy || !name}>
          backfill
        </button>
      </form>
      <Outcome message={action.message} error={action.error} />
      {registered && <a href={href(["ingestions", registered.id])}>open the ingestion</a>}
    </Card>
  );
}
