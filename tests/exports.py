"""A `qa export` file made larger: the same articles many times over, for imports of
more than one batch (tests) and of thousands of articles (`make bench-import`)."""

from __future__ import annotations

import json
from pathlib import Path


def repeated(export: Path, copies: int, path: Path) -> Path:
    """``export``'s articles ``copies`` times over at ``path``, each copy with ids of its
    own (article ids end in -0, -1, ...; passage and sentence ids shifted by a million)."""
    first, *records = export.read_text(encoding="utf-8").splitlines()
    header = json.loads(first)
    for count in ("articles", "passages", "sentences"):
        header["manifest"][count] *= copies
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps(header) + "\n")
        for copy in range(copies):
            shift = copy * 1_000_000
            for line in records:
                record = json.loads(line)
                record["source"]["article_id"] += f"-{copy}"
                record["passages"] = [
                    [i + shift, first + shift, last + shift, start, end]
                    for i, first, last, start, end in record["passages"]
                ]
                record["sentences"] = [[i + shift, s, e] for i, s, e in record["sentences"]]
                out.write(json.dumps(record) + "\n")
    return path
