"""The Firestore client of the registry and what its parts share: collection names and claims."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.collection import CollectionReference

if TYPE_CHECKING:
    from eventpulse.settings import Settings


def build_firestore_client(settings: Settings) -> firestore.Client:
    """A client for Google's API, or for the emulator at ``firestore_emulator_host`` (anonymous)."""
    if not settings.firestore_emulator_host:
        return firestore.Client(project=settings.gcp_project, database=settings.firestore_database)
    from google.auth.credentials import AnonymousCredentials

    client = firestore.Client(
        project=settings.gcp_project,
        database=settings.firestore_database,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]  # google-auth is untyped
    )
    # The client reads FIRESTORE_EMULATOR_HOST in its constructor only; settings are our one source of
    # configuration, so the host is given here, before the first call opens the (insecure) channel.
    client._emulator_host = settings.firestore_emulator_host
    return client


class Collections:
    """The registry's collections (``<prefix><name>``, all top-level) and its one compare-and-set."""

    def __init__(self, client: firestore.Client, *, prefix: str = ""):
        self._client = client
        self._prefix = prefix

    def _col(self, name: str) -> CollectionReference:
        return self._client.collection(f"{self._prefix}{name}")

    def _claim(self, collection: str, key: str, fields: Mapping[str, Any]) -> bool:
        """Create the claim document; False when another writer created it first."""
        try:
            self._col(collection).document(key).create(dict(fields))
        except gexc.AlreadyExists:
            return False
        return True

    # --- health -----------------------------------------------------------------------------------

    def is_reachable(self) -> bool:
        try:
            self._col("devices").document("_reachability").get(timeout=5, retry=None)
        except gexc.GoogleAPIError:
            return False
        return True

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]  # the client is untyped
