import { useEffect, useState } from "preact/hooks";
import { enc, get, type Schemas, upload } from "../api";
import { href } from "../router";
import { asApiError, Badge, ErrorBox, useApi } from "../ui";
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
    </>
  );
}
