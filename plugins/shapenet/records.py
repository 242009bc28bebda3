"""A folder of KeypointNet's released TFRecords as a ``shapenet`` dataset (no rendering).

Used by :func:`.dataset.build` when the folder holds ``*.tfrecord`` files and no ShapeNet
model. Split as KeypointNet's ``main.py`` does: the files named in ``test.txt`` are ``test``,
those in ``dev.txt`` (validation) are left out (noted), every other file is ``train``; with no
``test.txt``, :func:`.layout.split_models`'s hash rule over the file stems. The category is
the folder's name without ``_with_keypoints`` (``cars_with_keypoints`` → ``cars``); a pair's
``object`` is ``<file stem>#<record index>`` (the records carry no model id). A file that is
not a TFRecord is skipped with its error; a damaged record raises a :class:`DataError` when
read. A file's records are decoded when one of its pairs is first read (one file kept).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from kpbench.dataset import KeypointDataset
from kpbench.errors import DataError
from kpbench.tasks.common import LazySamples

from .layout import Model, split_models
from .tfrecords import RecordError, count_records, decode_pair, folder_intrinsics, read_examples


def _stems(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {Path(line.strip()).stem for line in path.read_text().splitlines() if line.strip()}


@lru_cache(maxsize=1)
def _examples(path: str) -> list[dict]:
    try:
        return read_examples(Path(path))
    except RecordError as exc:
        raise DataError(f"shapenet: {path}: {exc}; the file is damaged, get it again") from None


class KeypointNetRecords(KeypointDataset):
    """View pairs read from KeypointNet's TFRecords (see the module docstring)."""

    name = "shapenet"
    tasks = ("multiview3d",)

    def __init__(self, root: Path, files: list[Path], test_fraction: float = 0.2,
                 image_size: int = 128, ignored_options: dict | None = None):  # fmt: skip
        super().__init__()
        self.root = Path(root)
        self.category = self.root.name.replace("_with_keypoints", "") or "shapenet"
        self.K, k_source = folder_intrinsics(self.root, image_size)
        test, dev = _stems(self.root / "test.txt"), _stems(self.root / "dev.txt")
        if not test:
            stems = [Model("", f.stem, self.category, f, "tfrecord") for f in files]
            split = {k.split("/", 1)[1]: s for k, s in split_models(stems, test_fraction).items()}
            rule = (
                f"no test.txt: files ranked by sha256(stem), the first ceil({test_fraction} n) test"
            )
        else:
            split = {f.stem: "test" if f.stem in test else "train" for f in files}
            rule = "test.txt → test, dev.txt → left out, the rest → train (KeypointNet's main.py)"
        self._pairs: dict[str, list[tuple[str, int]]] = {"train": [], "test": []}
        used, skipped, ignored = [], {}, {}
        for f in files:
            if f.stem in dev:
                ignored[str(f)] = "listed in dev.txt (KeypointNet's validation set)"
                continue
            try:
                n = count_records(f)
            except RecordError as exc:
                skipped[str(f)] = str(exc)
                continue
            used.append(str(f))
            self._pairs[split[f.stem]] += [(str(f), i) for i in range(n)]
        if not used:
            raise DataError(
                f"shapenet: none of the {len(files)} .tfrecord files in {self.root} "
                f"is readable (e.g. {next(iter(skipped.items()), '')}); get them again"
            )
        self.notes = {
            "layout": ["keypointnet-tfrecord"], "categories": [self.category],
            "used_files": used, "skipped_files": skipped, "ignored": ignored,
            "split_rule": rule, "pairs": {s: len(v) for s, v in self._pairs.items()},
            "intrinsics": k_source, "poses": "OpenCV = diag(1,-1,-1,1) @ reshape(mv, 4, 4)",
        }  # fmt: skip
        if ignored_options:
            self.notes["ignored_options"] = dict(ignored_options)

    def _pair(self, split: str, k: int) -> dict:
        path, i = self._pairs[split][k]
        try:
            pair = decode_pair(_examples(path)[i], self.K)
        except RecordError as exc:
            raise DataError(f"shapenet: {path} record {i}: {exc}; the file is damaged") from None
        return {"object": f"{Path(path).stem}#{i}", "category": self.category, **pair}

    def view_pairs(self, split: str) -> LazySamples:
        pairs = self._pairs.get(split, [])
        return LazySamples(len(pairs), lambda k: self._pair(split, k))

    def describe(self) -> dict:
        return {"name": self.name, "tasks": list(self.tasks), "keypoint_names": [], **self.notes}
