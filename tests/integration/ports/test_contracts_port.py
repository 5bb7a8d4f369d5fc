"""The Contracts port: adoptions from the contracts folder and the API, newest wins, serialised."""

from __future__ import annotations

import threading
from typing import Any

from eventpulse.ports import MetadataStore


def body(n: int) -> dict[str, Any]:
    return {"name": "orders", "expectations": [], "meta": {"n": n}}


def adopt(store: MetadataStore, version: str, source: str, actor: str = "tester") -> tuple[Any, bool]:
    with store.transaction() as tx:
        return tx.contracts.adopt(
            dataset="orders", version=version, body=body(int(version[1:])), source=source, actor=actor
        )  # type: ignore[arg-type]


def test_no_contract_until_one_is_adopted(store: MetadataStore) -> None:
    with store.read() as tx:
        assert tx.contracts.current("orders") is None
        assert tx.contracts.history("orders") == []
        assert tx.contracts.datasets() == []


def test_the_newest_adoption_is_current_and_an_unchanged_file_changes_nothing(store: MetadataStore) -> None:
    record, changed = adopt(store, "v1", "file", "contracts-dir")
    assert changed and record.version == "v1" and record.source == "file" and record.body == body(1)
    assert adopt(store, "v1", "file") == (record, False)  # the file says what it said
    saved, changed = adopt(store, "v2", "api", "token:root")
    assert changed and saved.version == "v2" and saved.adopted_by == "token:root"
    # The file still says v1, as it did the last time: the API save stays current.
    current, changed = adopt(store, "v1", "file")
    assert not changed and current.version == "v2"
    # The file is edited, even back to an old version: the edit wins.
    current, changed = adopt(store, "v3", "file")
    assert changed and current.version == "v3"
    current, changed = adopt(store, "v1", "file")
    assert changed and current.version == "v1"
    with store.read() as tx:
        history = tx.contracts.history("orders")
        assert [(h["version"], h["source"]) for h in history] == [
            ("v1", "file"),
            ("v3", "file"),
            ("v2", "api"),
            ("v1", "file"),
        ]
        assert tx.contracts.datasets() == ["orders"]
        assert tx.contracts.version("orders", "v2")["body"] == body(2)  # type: ignore[index]
        assert tx.contracts.version("orders", "v9") is None


def test_saving_the_current_version_again_is_no_change(store: MetadataStore) -> None:
    adopt(store, "v1", "api")
    current, changed = adopt(store, "v1", "api")
    assert not changed and current.version == "v1"
    with store.read() as tx:
        assert len(tx.contracts.history("orders")) == 1


def test_every_adoption_is_audited_with_the_previous_version(store: MetadataStore) -> None:
    adopt(store, "v1", "file", "contracts-dir")
    adopt(store, "v2", "api", "token:root")
    with store.read() as tx:
        events = tx.audit.page(action="contract.adopted").items
    assert [
        (e["actor"], e["details"]["contract_version"], e["details"]["previous_version"]) for e in events
    ] == [
        ("token:root", "v2", "v1"),
        ("contracts-dir", "v1", None),
    ]


def test_processes_reading_the_same_new_file_adopt_it_once(store: MetadataStore) -> None:
    barrier = threading.Barrier(4)
    results: list[bool] = []

    def read_the_file() -> None:
        barrier.wait()
        results.append(adopt(store, "v7", "file")[1])

    threads = [threading.Thread(target=read_the_file) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, False, False, True]
    with store.read() as tx:
        assert [h["version"] for h in tx.contracts.history("orders")] == ["v7"]
