"""GCS raw landing: content-addressed objects under ``raw_prefix``, create-only (``if_generation_match=0``).

The only module that imports google-cloud-storage. The key of a raw object is its full object name,
``<raw_prefix><dataset>/<sha256><ext>``: ``ingestions.raw_key`` names the object itself, so a finalize
event for an object EventPulse landed finds its ingestion by one indexed lookup.

Object metadata: ``dataset``, ``source``, ``sha256`` and ``filename``. The filename is stored
percent-encoded (UTF-8): metadata travels as HTTP headers, which cannot carry every Unicode name.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from google.api_core import exceptions as gexc
from google.cloud import storage

from eventpulse.errors import BadData, RetryableError
from eventpulse.landing.keys import (
    build_raw_key,
    content_type_for,
    encode_metadata_filename,
    ensure_safe_key,
    extension_of,
)
from eventpulse.landing.spool import HashingWriter, spooled
from eventpulse.ports import RawObject, StoredObject

if TYPE_CHECKING:
    from eventpulse.settings import Settings

_SHA256_STEM = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.InternalServerError,
    gexc.TooManyRequests,
    gexc.GatewayTimeout,
    ConnectionError,
)


def build_storage_client(settings: Settings) -> storage.Client:
    """A client for Google's API, or for the emulator at ``gcs_endpoint`` (anonymous)."""
    if settings.gcs_endpoint:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            project=settings.gcp_project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]  # google-auth is untyped
            client_options={"api_endpoint": settings.gcs_endpoint},
        )
    return storage.Client(project=settings.gcp_project)


class GcsLanding:
    """The RawLanding port on a GCS bucket, plus the object operations the cloud edge needs."""

    def __init__(
        self,
        client: storage.Client,
        bucket: str,
        *,
        raw_prefix: str,
        tmp_dir: Path,
        signer_file: Path | None = None,
    ):
        self.client = client
        self.bucket_name = bucket
        self.bucket = client.bucket(bucket)
        self.raw_prefix = raw_prefix
        self.tmp_dir = tmp_dir.resolve()
        self.signer_file = signer_file

    @classmethod
    def from_settings(cls, settings: Settings) -> GcsLanding:
        if not settings.gcs_bucket:
            raise ValueError("EVENTPULSE_GCS_BUCKET must be set when EVENTPULSE_LANDING=gcs")
        return cls(
            build_storage_client(settings),
            settings.gcs_bucket,
            raw_prefix=settings.raw_prefix,
            tmp_dir=settings.tmp_dir,
            signer_file=settings.gcs_credentials_file,
        )

    # --- the RawLanding port ----------------------------------------------------------------------

    def object_name(self, dataset: str, sha256: str, filename: str) -> str:
        """The raw object name of these bytes: ``<raw_prefix><dataset>/<sha256><ext>``."""
        return self.raw_prefix + build_raw_key(dataset, sha256, filename)

    def put_stream(
        self,
        dataset: str,
        filename: str,
        stream: BinaryIO,
        *,
        max_bytes: int | None,
        source: str | None = None,
    ) -> RawObject:
        with spooled(stream, self.tmp_dir, filename=filename, max_bytes=max_bytes) as spool:
            sha256, size = spool.sha256, spool.size
            name = self.object_name(dataset, sha256, filename)
            metadata = {
                "dataset": dataset,
                "source": source or "api",
                "sha256": sha256,
                "filename": encode_metadata_filename(filename),
            }
            created = self._upload_create_only(spool.path, name, metadata, content_type_for(filename))
        return RawObject(key=name, sha256=sha256, size_bytes=size, created=created, uri=self.uri(name))

    def put_file(self, dataset: str, filename: str, path: Path) -> RawObject:
        with open(path, "rb") as src:
            return self.put_stream(dataset, filename, src, max_bytes=None)

    def _upload_create_only(self, path: Path, name: str, metadata: dict[str, str], content_type: str) -> bool:
        blob = self.bucket.blob(name)
        blob.metadata = metadata
        try:
            # if_generation_match=0: GCS refuses (412) when any live generation exists. Raw names are
            # content addresses, so an existing object holds these very bytes: never rewrite it.
            blob.upload_from_filename(str(path), content_type=content_type, if_generation_match=0)
        except gexc.PreconditionFailed:
            return False
        except _TRANSIENT as exc:
            raise _retryable(f"upload of gs://{self.bucket_name}/{name}") from exc
        return True

    def open(self, key: str) -> BinaryIO:
        return cast(BinaryIO, self.bucket.blob(ensure_safe_key(key)).open("rb"))

    @contextlib.contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Download to a private temp folder (removed afterwards), verifying the content address.

        The file is named after the client's original filename when that is safe, so a read error
        names the user's file rather than a hash.
        """
        obj = self.stat(key)
        if obj is None:
            raise RetryableError(
                f"raw object gs://{self.bucket_name}/{key} does not exist",
                hint="it may not be visible yet, or was pruned; replay needs the raw object",
            )
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        folder = self.tmp_dir / f"dl-{uuid.uuid4().hex}"
        folder.mkdir()
        try:
            path = folder / local_name_for(key, obj.filename)
            with open(path, "xb") as out:
                sha256, _ = self._download(obj, out)
            expected = PurePosixPath(key).stem
            if _SHA256_STEM.match(expected) and sha256 != expected:
                raise BadData(
                    f"raw object gs://{self.bucket_name}/{key} holds bytes whose sha256 is {sha256}, "
                    "not the one its name declares",
                    hint="the upload was corrupted or mislabelled; upload the file again",
                )
            yield path
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def delete(self, key: str) -> bool:
        """Delete the current generation of a raw object (only the retention job calls this)."""
        obj = self.stat(key)
        return obj is not None and self.delete_generation(obj)

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{key}"

    # --- object operations for the cloud edge (finalize, backfill, signed URLs) -------------------

    def stat(self, name: str, *, bucket: str | None = None) -> StoredObject | None:
        """The live generation of an object, or None."""
        try:
            blob = self.client.bucket(bucket or self.bucket_name).get_blob(ensure_safe_key(name))
        except _TRANSIENT as exc:
            raise _retryable(f"lookup of gs://{bucket or self.bucket_name}/{name}") from exc
        return None if blob is None else _stored(blob)

    def hash_object(self, obj: StoredObject, *, max_bytes: int | None = None) -> tuple[str, int]:
        """(sha256, size) of exactly this generation, streamed (nothing is written to disk)."""

        class _Sink:
            def write(self, chunk: bytes) -> int:
                return len(chunk)

        return self._download(obj, _Sink(), max_bytes=max_bytes)

    def _download(self, obj: StoredObject, out: Any, *, max_bytes: int | None = None) -> tuple[str, int]:
        writer = HashingWriter(out, max_bytes, f"gs://{obj.bucket}/{obj.name}")
        blob = self.client.bucket(obj.bucket).blob(obj.name, generation=obj.generation)
        try:
            blob.download_to_file(writer)
        except gexc.NotFound:
            raise RetryableError(
                f"object gs://{obj.bucket}/{obj.name}#{obj.generation} disappeared while being read"
            ) from None
        except _TRANSIENT as exc:
            raise _retryable(f"download of gs://{obj.bucket}/{obj.name}") from exc
        return writer.digest.hexdigest(), writer.size

    def copy_create_only(self, source: StoredObject, name: str, metadata: Mapping[str, str]) -> bool:
        """Copy one generation to ``name`` in the landing bucket unless ``name`` exists; True if copied.

        A server-side rewrite: the bytes never pass through this process, and the destination's
        metadata is set in the same request, so its own finalize event already carries it.
        """
        src = self.client.bucket(source.bucket).blob(source.name, generation=source.generation)
        dest = self.bucket.blob(ensure_safe_key(name))
        dest.metadata = dict(metadata)
        dest.content_type = source.content_type
        token: str | None = None
        try:
            while True:
                token, _, _ = dest.rewrite(src, token=token, if_generation_match=0)
                if token is None:
                    return True
        except gexc.PreconditionFailed:
            return False
        except _TRANSIENT as exc:
            raise _retryable(f"copy to gs://{self.bucket_name}/{name}") from exc

    def delete_generation(self, obj: StoredObject) -> bool:
        """Delete exactly this generation (never a newer one); False when it is already gone."""
        blob = self.client.bucket(obj.bucket).blob(obj.name)
        try:
            blob.delete(if_generation_match=obj.generation)
        except (gexc.NotFound, gexc.PreconditionFailed):
            return False
        return True

    def signed_put_url(self, name: str, *, headers: Mapping[str, str], expires: timedelta) -> str:
        """A V4 signed PUT URL for ``name``; every header in ``headers`` is signed and must be sent."""
        return self._signed_url(name, method="PUT", headers=headers, expires=expires)

    def signed_get_url(self, name: str, *, expires: timedelta) -> str:
        """A V4 signed GET URL for ``name`` (a short-lived read link, e.g. a device's media)."""
        return self._signed_url(name, method="GET", headers={}, expires=expires)

    def _signed_url(self, name: str, *, method: str, headers: Mapping[str, str], expires: timedelta) -> str:
        blob = self.bucket.blob(ensure_safe_key(name))
        kwargs: dict[str, Any] = {}
        if self.signer_file is not None:
            from google.oauth2 import service_account

            kwargs["credentials"] = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(self.signer_file)
            )
        else:
            kwargs.update(_iam_signing_arguments())
        return str(
            blob.generate_signed_url(
                version="v4", expiration=expires, method=method, headers=dict(headers), **kwargs
            )
        )


def local_name_for(key: str, original: str | None) -> str:
    """The client's filename when it is a safe single segment with the key's extension, else the key's."""
    fallback = PurePosixPath(key).name
    if not original:
        return fallback
    name = original.strip()
    if (
        not name
        or name.startswith(".")
        or _UNSAFE_NAME.search(name)
        or len(name.encode()) > 200
        or extension_of(name) != PurePosixPath(key).suffix.lower()
    ):
        return fallback
    return name


def _iam_signing_arguments() -> dict[str, Any]:
    """Sign through the IAM signBlob API with the runtime's service account (no key file in the cloud)."""
    import google.auth
    from google.auth.transport.requests import Request

    credentials, _ = google.auth.default()
    credentials.refresh(Request())  # type: ignore[no-untyped-call]
    email = getattr(credentials, "service_account_email", None)
    if not email:
        raise RuntimeError(
            "cannot sign URLs: the runtime credentials have no service account; "
            "set EVENTPULSE_GCS_CREDENTIALS_FILE to a service-account key, or run as a service account"
        )
    return {"service_account_email": email, "access_token": credentials.token}


def _stored(blob: storage.Blob) -> StoredObject:
    return StoredObject(
        bucket=blob.bucket.name,
        name=blob.name,
        generation=int(blob.generation or 0),
        size=int(blob.size or 0),
        content_type=blob.content_type,
        metadata={str(k): str(v) for k, v in (blob.metadata or {}).items()},
    )


def _retryable(what: str) -> RetryableError:
    # The storage client's own text (URLs, project, account) stays on the raiser's __cause__, for the log.
    return RetryableError(
        f"{what} failed: the storage service did not complete the request",
        hint="transient storage error; it is retried",
    )
