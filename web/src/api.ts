// One client for every page: the base URL from /config.json, the session's token, the error envelope.
import type { components } from "./api-types";
import { loadConfig } from "./config";

export type Schemas = components["schemas"];
export type Ingestion = Schemas["Ingestion"];
export type Status = Schemas["Status"];

const TOKEN_KEY = "eventpulse.token";

export function getToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function setToken(token: string): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  window.dispatchEvent(new Event("eventpulse-token"));
}

/** A failed call, always with a sentence for people: the envelope's message and hint, or what went wrong. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint: string = "",
  ) {
    super(message);
  }

  /** What to tell the user, including what to do about a missing or too weak token. */
  explain(): string {
    if (this.status === 401)
      return `${this.message}. Enter an API token (top right): a viewer token reads, an operator or admin token changes things.`;
    if (this.status === 403) return `${this.message}. This action needs a stronger token: enter an operator or admin token (top right).`;
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export async function url(path: string, query: Query = {}): Promise<string> {
  const { api_base_url } = await loadConfig();
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const qs = params.toString();
  return `${api_base_url}${path}${qs ? `?${qs}` : ""}`;
}

export function authHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export async function errorOf(status: number, text: string): Promise<ApiError> {
  try {
    const body = JSON.parse(text) as Schemas["ErrorEnvelope"];
    const e = body.error;
    return new ApiError(e.status, e.code, e.message, e.hint ?? "");
  } catch {
    return new ApiError(status, "http_error", `the server answered HTTP ${status}`);
  }
}

export async function call<T>(method: string, path: string, query: Query = {}, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(await url(path, query), {
      method,
      headers: { ...authHeaders(), ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "the API does not answer: is `eventpulse serve` running?");
  }
  const text = await response.text();
  if (!response.ok) throw await errorOf(response.status, text);
  return (text ? JSON.parse(text) : null) as T;
}

export const get = <T>(path: string, query: Query = {}) => call<T>("GET", path, query);
export const post = <T>(path: string, body: unknown = {}, query: Query = {}) => call<T>("POST", path, query, body);
export const put = <T>(path: string, body: unknown) => call<T>("PUT", path, {}, body);

export const enc = encodeURIComponent;

/** Upload a file's bytes with progress (fetch has no upload progress; XMLHttpRequest does). */
export async function upload(
  file: Blob,
  query: Query,
  onProgress: (fraction: number) => void,
): Promise<Schemas["Registered"]> {
  const target = await url("/api/ingest/upload", query);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", target);
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(JSON.parse(xhr.responseText));
      } else reject(await errorOf(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => reject(new ApiError(0, "network", "the upload was interrupted: the API did not answer"));
    xhr.send(file);
  });
}
