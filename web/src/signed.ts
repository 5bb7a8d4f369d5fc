// The browser side of a signed-URL upload: mint (API), PUT straight to storage (XHR, for progress), finalize (API).
import { ApiError, post, type Schemas } from "./api";

/** A failure of the PUT to storage: not an API error, so never a reason to ask for a token. */
export class StorageError extends ApiError {
  explain(): string {
    return this.hint ? `${this.message} ${this.hint}` : this.message;
  }
}

/** GCS's XML error body, <Error><Code>…</Code><Message>…</Message>: the code and message, if any. */
function xmlError(text: string): { code: string; message: string } {
  const pick = (tag: string) => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(text)?.[1]?.trim() ?? "";
  return { code: pick("Code"), message: pick("Message") || pick("Details") };
}

/** What a failed PUT means and what to do next: expired URL, object exists, refused, unreachable. */
export function storageError(status: number, text: string, signed: Schemas["SignedUpload"]): StorageError {
  const { code, message } = xmlError(text);
  const where = `gs://${signed.bucket}/${signed.object_name}`;
  const again = "Upload the file again: each upload gets a new URL.";
  if (status === 0) {
    const origin = new URL(signed.url).origin;
    return new StorageError(0, "storage_unreachable", `The browser could not reach storage at ${origin}; nothing was uploaded.`,
      `Check the network connection and upload again. If it fails at once every time, the bucket's CORS rule may not allow this page's origin (${location.origin}): an operator adds it to cors_origins (docs/DEPLOY_GCP.md).`);
  }
  if (status === 412)
    return new StorageError(412, "object_exists", `An object already exists at ${where}: storage refused to overwrite it (uploads are create-only), so this upload stored nothing.`,
      `If an earlier upload to this URL got through, it is that object: register it with "Backfill from GCS" (object name ${signed.object_name}) or find it under Ingestions. Otherwise upload the file again: each upload gets a new URL.`);
  const expired = code === "ExpiredToken" || /expired/i.test(message) || Date.parse(signed.expires_at) < Date.now();
  if (expired)
    return new StorageError(status, "url_expired", `The signed URL expired (it was valid until ${signed.expires_at}); nothing was stored.`, again);
  const said = [code, message].filter(Boolean).join(": ") || `HTTP ${status}`;
  if (status === 403 || status === 400)
    return new StorageError(status, "storage_refused", `Storage refused the signed upload (${said}); nothing was stored.`,
      `${again} If it is refused again, the server's signing account may lack write access to the bucket: tell an operator.`);
  return new StorageError(status, "storage_error", `Storage answered ${said}; the upload may not have been stored.`, again);
}

/** PUT ``file`` to the signed URL with exactly its signed headers, reporting progress; no API token goes to storage. */
export function putSigned(signed: Schemas["SignedUpload"], file: Blob, onProgress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(signed.method || "PUT", signed.url);
    for (const [k, v] of Object.entries(signed.headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else reject(storageError(xhr.status, xhr.responseText, signed));
    };
    xhr.onerror = () => reject(storageError(0, "", signed));
    xhr.send(file);
  });
}

export type SignedStep = "signing" | "uploading" | "registering";

/** A CSV file's first line (the server checks it against the drift policy before minting a URL). */
async function firstLine(file: File): Promise<string> {
  const text = await file.slice(0, 64 * 1024).text();
  return text.replace(/^\uFEFF/, "").split(/\r?\n/, 1)[0];
}

/** The whole signed-URL path for one file: mint, PUT with progress, finalize; the registration answer. */
export async function uploadSigned(
  dataset: string,
  file: File,
  checkHeader: boolean,
  onStep: (step: SignedStep, signed?: Schemas["SignedUpload"]) => void,
  onProgress: (fraction: number) => void,
): Promise<Schemas["Registered"]> {
  onStep("signing");
  const header = checkHeader && /\.csv$/i.test(file.name) ? await firstLine(file) : undefined;
  const signed = await post<Schemas["SignedUpload"]>("/api/uploads/signed_url", { dataset, filename: file.name, header });
  onStep("uploading", signed);
  await putSigned(signed, file, onProgress);
  onStep("registering", signed);
  return post<Schemas["Registered"]>("/api/uploads/finalize", { object_name: signed.object_name });
}
