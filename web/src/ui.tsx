// Small shared pieces: data loading, errors, tables, pagers, status badges.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError } from "./api";

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/** Run ``load`` when ``deps`` change (and on a token change); keep the last good data while reloading. */
export function useApi<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    const onToken = () => setTick((t) => t + 1);
    window.addEventListener("eventpulse-token", onToken);
    return () => window.removeEventListener("eventpulse-token", onToken);
  }, []);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load()
      .then((d) => live && (setData(d), setError(null)))
      .catch((e: unknown) => live && setError(asApiError(e)))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data, error, loading, reload };
}

export function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, "client", e instanceof Error ? e.message : String(e));
}

/** An action button's state: busy while running, then the outcome or the error, in words. */
export function useAction(): {
  busy: boolean;
  message: string;
  error: ApiError | null;
  run: (what: () => Promise<string>) => Promise<void>;
} {
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const run = async (what: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    setMessage("");
    try {
      setMessage(await what());
    } catch (e) {
      setError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  return { busy, message, error, run };
}

export function ErrorBox({ error }: { error: ApiError | null }) {
  if (!error) return null;
  return (
    <div class="error" role="alert" data-testid="error">
      {error.explain()}
    </div>
  );
}

export function Outcome({ message, error }: { message: string; error: ApiError | null }) {
  return (
    <>
      <ErrorBox error={error} />
      {message && (
        <div class="ok" role="status" data-testid="outcome">
          {message}
        </div>
      )}
    </>
  );
}

export function Loading({ loading }: { loading: boolean }) {
  return loading ? <span class="muted" aria-live="polite">loading…</span> : null;
}

export function Card({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="card">
      <h2>{title}</h2>
      {children}
    </section>
  );
}

const GOOD = new Set(["LOADED", "ok", "fresh", "online", "active", "acked", "succeeded", "replayed"]);
const BUSY = new Set(["warn", "unknown", "pending", "RECEIVED", "PROCESSING", "PARTIALLY_LOADED", "QUARANTINED", "queued", "delivered", "held"]);

export function Badge({ value }: { value: string }) {
  const kind = GOOD.has(value) ? "good" : BUSY.has(value) ? "busy" : "bad";
  return <span class={`badge ${kind}`}>{value}</span>;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace("T", " ").slice(0, 19);
}

export function num(n: number | null | undefined): string {
  return n === null || n === undefined ? "—" : n.toLocaleString("en-US");
}

export function Pager({
  offset,
  limit,
  total,
  onOffset,
}: {
  offset: number;
  limit: number;
  total: number;
  onOffset: (offset: number) => void;
}) {
  const last = Math.min(offset + limit, total);
  return (
    <nav class="pager" aria-label="pages">
      <button disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - limit))}>
        ← previous
      </button>
      <span data-testid="page-range">
        {total === 0 ? "none" : `${offset + 1}–${last} of ${num(total)}`}
      </span>
      <button disabled={last >= total} onClick={() => onOffset(offset + limit)}>
        next →
      </button>
    </nav>
  );
}

export function Json({ value }: { value: unknown }) {
  return <pre class="json">{JSON.stringify(value, null, 2)}</pre>;
}

export function Tabs({
  tabs,
  current,
  onTab,
}: {
  tabs: string[];
  current: string;
  onTab: (tab: string) => void;
}) {
  return (
    <div class="tabs" role="tablist">
      {tabs.map((t) => (
        <button role="tab" aria-selected={t === current} class={t === current ? "active" : ""} onClick={() => onTab(t)}>
          {t}
        </button>
      ))}
    </div>
  );
}
