import { useEffect, useState } from "preact/hooks";
import { enc, get, post, type Schemas, upload } from "../api";
import { href } from "../router";
import { type SignedStep, uploadSigned } from "../signed";
import { asApiError, Badge, Card, ErrorBox, Outcome, useAction, useApi } from "../ui";
import type { ApiError } from "../api";

const IN_FLIGHT = new Set(["RECEIVED", "PROCESSING"]);

/** The current status of a registered ingestion, polled every second while it is in flight. */
function useFollow(registered: Schemas["Registered"] | null, onError: (e: ApiError) => void): string {
  const [status, setStatus] = useState("");
  useEffect(() => setStatus(registered?.status ?? ""), [registered]);
  useEffect(() => {
    if (!registered || !IN_FLIGHT.has(status)) return;
    const timer = setInterval(async () => {
      try {
        const d = await get<Schemas["Ingestion"]>(`/api/ingestions/${enc(registered.id)}`);
        setStatus(d.status);
      } catch (e) {
        onError(asApiError(e));
      }
    }, 1000);
    return () => clearInterval(timer);
  }, [registered, status]);
  return status;
}

function Result({ registered, status, testid }: { registered: Schemas["Registered"]; status: string; testid: string }) {
  return (
    <div class="ok" role="status" data-testid={testid}>
      {registered.deduplicated
        ? registered.duplicate?.message ?? "these bytes were already registered"
        : `registered as ingestion ${registered.id}`}{" "}
      — <Badge value={status || registered.status} /> <a href={href(["ingestions", registered.id])}>open it</a>
    </div>
  );
}

export function Ingest() {
  const datasets = useApi(() => get<Schemas["DatasetList"]>("/api/datasets"), []);
  const [dataset, setDataset] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [registered, setRegistered] = useState<Schemas["Registered"] | null>(null);
  const status = useFollow(registered, setError);
  const [failFast, setFailFast] = useState(false);
  const names = (datasets.data?.items ?? []).filter((d) => d.has_contract).map((d) => d.name);
  const chosen = dataset || names[0] || "";

  const send = async (e: Event) => {
    e.preventDefault();
    if (!file || !chosen) return;
    setError(null);
    setRegistered(null);
    setProgress(0);
    try {
      const r = await upload(file, { dataset: chosen, filename: file.name, source: "dashboard", fail_fast: failFast || undefined }, setProgress);
      setRegistered(r);
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
      {registered && <Result registered={registered} status={status} testid="upload-result" />}
      <div class="grid">
        <SignedUpload datasets={names} />
        <Backfill />
      </div>
    </>
  );
}

/** The signed-URL path: mint a create-only PUT, send the file from the browser straight to storage, then register it. */
function SignedUpload({ datasets }: { datasets: string[] }) {
  const [dataset, setDataset] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [checkHeader, setCheckHeader] = useState(false);
  const [step, setStep] = useState<SignedStep | null>(null);
  const [target, setTarget] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [registered, setRegistered] = useState<Schemas["Registered"] | null>(null);
  const status = useFollow(registered, setError);
  const chosen = dataset || datasets[0] || "";
  const send = async (e: Event) => {
    e.preventDefault();
    if (!file || !chosen) return;
    setError(null);
    setRegistered(null);
    setProgress(null);
    setTarget("");
    try {
      const onStep = (s: SignedStep, signed?: Schemas["SignedUpload"]) => {
        setStep(s);
        if (signed) setTarget(`gs://${signed.bucket}/${signed.object_name}`);
        if (s === "uploading") setProgress(0);
      };
      setRegistered(await uploadSigned(chosen, file, checkHeader, onStep, setProgress));
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setStep(null);
    }
  };
  return (
    <Card title="Signed-URL upload (GCS landing)">
      <p class="muted small">
        For a large file: the browser sends the bytes straight to the landing bucket with a create-only signed PUT (they
        do not pass through the API), then registers them. Needs an operator token and the GCS landing.
      </p>
      <form onSubmit={send}>
        <label>
          dataset{" "}
          <select name="signed_dataset" value={chosen} onChange={(e) => setDataset((e.target as HTMLSelectElement).value)}>
            {datasets.map((n) => (
              <option value={n}>{n}</option>
            ))}
          </select>
        </label>{" "}
        <label>
          file <input type="file" name="signed_file" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
        </label>{" "}
        <label title="CSV: the first line is checked against the contract and drift policy before a URL exists; a rejected header uploads nothing">
          <input type="checkbox" name="signed_check_header" checked={checkHeader} onChange={() => setCheckHeader(!checkHeader)} /> check
          the header first (CSV)
        </label>{" "}
        <button type="submit" disabled={step !== null || !chosen || !file}>
          send to the bucket
        </button>
      </form>
      {step && (
        <p class="small" role="status" data-testid="signed-step">
          {STEPS[step]}
          {target && ` ${target}`}
        </p>
      )}
      {progress !== null && (
        <p>
          <progress max={1} value={progress} data-testid="signed-progress" aria-label="signed upload progress" />{" "}
          <span data-testid="signed-percent">{Math.round(progress * 100)} %</span>
        </p>
      )}
      <ErrorBox error={error} />
      {registered && <Result registered={registered} status={status} testid="signed-result" />}
    </Card>
  );
}

const STEPS: Record<SignedStep, string> = {
  signing: "asking the API for a signed URL…",
  uploading: "sending the file to",
  registering: "registering",
};

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
