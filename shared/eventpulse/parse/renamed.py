"""A source whose columns are read under the names a contract's ``renames`` maps them to.

The file keeps its bytes and its header; only the names the pipeline sees change, so drift, casts,
the load and the column's history treat a renamed column as the known column.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pyarrow as pa

from eventpulse.errors import ReadError
from eventpulse.parse.formats import FileFormat
from eventpulse.parse.source import TabularSource, rename_columns


@dataclass
class RenamedSource:
    inner: TabularSource
    columns: list[str]
    renamed: dict[str, str]
    """The renames this file used: {name in the file: known column}."""
    format: FileFormat
    original_columns: list[str]
    encoding: str | None

    @classmethod
    def wrap(cls, source: TabularSource, renames: Mapping[str, str]) -> TabularSource:
        """``source`` with ``renames`` applied; ``source`` itself when none of them is in the file."""
        used = {name: renames[name] for name in source.columns if name in renames}
        if not used:
            return source
        columns = [used.get(name, name) for name in source.columns]
        for name, target in used.items():
            if columns.count(target) > 1:
                raise ReadError(
                    f"the file has both {name!r} and {target!r}, and the contract reads {name!r} as "
                    f"{target!r}",
                    hint=f"remove one of the two columns, or the rename of {name!r} from the contract",
                    details={"column": target, "renamed_from": name},
                )
        return cls(source, columns, used, source.format, source.original_columns, source.encoding)

    def batches(self) -> Iterator[pa.RecordBatch]:
        for batch in self.inner.batches():
            yield rename_columns(batch, self.columns)
