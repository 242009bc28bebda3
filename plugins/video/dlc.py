"""DeepLabCut project labels: ``config.yaml`` and ``labeled-data/<video>/CollectedData_<scorer>``.

:func:`read_dlc_config` reads the keypoint names and skeleton, :func:`read_dlc_table` one label
table (``.csv`` or ``.h5``, single- or multi-animal, either row-index style), and
:func:`read_dlc_project` both over a project's ``labeled-data/`` folders, as labelled stills
(multi-animal projects with their individuals, so a dataset can split a frame per animal).
Pixels are ``(x, y)`` with NaN where a point is not labelled; a malformed file raises
:class:`~kpbench.errors.DataError` naming it. pandas and yaml are imported on first use.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from kpbench.errors import DataError
from kpbench_plugins.video.labels import Stills, checked_points, image_size

DLC_LEVELS = ("scorer", "individuals", "bodyparts", "coords")


def _edges(pairs, where: Path) -> list[tuple[str, str]]:
    if pairs in (None, ""):
        return []
    if not isinstance(pairs, list) or not all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs
    ):
        raise DataError(f"{where}: 'skeleton' must be a list of [bodypart, bodypart] pairs")
    return [(str(a), str(b)) for a, b in pairs]


def read_dlc_config(path: Path) -> tuple[list[str], list[tuple[int, int]]]:
    """Keypoint names and skeleton of a DeepLabCut ``config.yaml``.

    Single-animal projects name keypoints by ``bodyparts``; multi-animal ones
    (``multianimalproject: true``) by ``<individual>_<bodypart>`` over ``individuals`` ×
    ``multianimalbodyparts``, then ``single_<bodypart>`` for ``uniquebodyparts``.

    Args:
        path: the project's ``config.yaml``.

    Returns:
        ``(names, skeleton)``: keypoint names and pairs of keypoint indices.
    """
    names, skeleton, _ = _read_config(path)
    return names, skeleton


def _read_config(path: Path):
    """:func:`read_dlc_config` plus the animal layout: ``(individuals, multianimalbodyparts)``
    of a multi-animal project, else None."""
    import yaml

    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(cfg, dict):
        raise DataError(
            f"{path}: a DeepLabCut config.yaml must be a mapping with a 'bodyparts' list"
        )
    pairs = _edges(cfg.get("skeleton"), path)
    if cfg.get("multianimalproject"):
        inds, parts = cfg.get("individuals"), cfg.get("multianimalbodyparts")
        unique = cfg.get("uniquebodyparts") or []
        if not isinstance(inds, list) or not isinstance(parts, list) or not inds or not parts:
            raise DataError(
                f"{path}: a multi-animal project needs 'individuals' and 'multianimalbodyparts' lists"
            )
        groups = [(str(i), [str(p) for p in parts]) for i in inds] + [
            ("single", [str(p) for p in unique])
        ]
        names = [f"{ind}_{p}" for ind, ps in groups for p in ps]
        index = {n: k for k, n in enumerate(names)}
        skeleton = [
            (index[f"{ind}_{a}"], index[f"{ind}_{b}"])
            for ind, _ in groups
            for a, b in pairs
            if f"{ind}_{a}" in index and f"{ind}_{b}" in index
        ]
        return names, skeleton, ([str(i) for i in inds], [str(p) for p in parts])
    parts = cfg.get("bodyparts")
    if not isinstance(parts, list) or not parts:
        raise DataError(f"{path}: 'bodyparts' must be a non-empty list of keypoint names")
    names = [str(p) for p in parts]
    index = {n: k for k, n in enumerate(names)}
    return names, [(index[a], index[b]) for a, b in pairs if a in index and b in index], None


def _read_dlc_csv(path: Path):
    import pandas as pd

    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = [row for _, row in zip(range(5), csv.reader(fh))]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable UTF-8 CSV table ({type(exc).__name__})") from None
    if not rows or not rows[0] or rows[0][0].strip().lower() != "scorer":
        first = rows[0][0] if rows and rows[0] else ""
        raise DataError(
            f"{path}: not a DeepLabCut label file (the first header row must start with 'scorer', found {first!r})"
        )
    n_header = next(
        (i for i, r in enumerate(rows) if not r or r[0].strip().lower() not in DLC_LEVELS),
        len(rows),
    )
    n_index = 1
    while n_index < len(rows[0]) and rows[0][n_index] == "":
        n_index += 1
    try:
        return pd.read_csv(path, header=list(range(n_header)), index_col=list(range(n_index)))
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot parse this DeepLabCut CSV ({exc})") from None


def read_dlc_table(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Read a DeepLabCut ``CollectedData_<scorer>.csv`` or ``.h5`` label table.

    Accepts 3 column levels ``(scorer, bodyparts, coords)`` or 4 ``(scorer, individuals,
    bodyparts, coords)``, and rows indexed by string paths (``labeled-data/v/img0.png``) or by a
    3-level MultiIndex ``(labeled-data, v, img0.png)``.

    Args:
        path: the ``.csv`` or ``.h5`` file.

    Returns:
        ``(images, names, keypoints)``: image paths as the file writes them (``/``-separated),
        keypoint names (``<individual>_<bodypart>`` with 4 levels) and ``(N, K, 2)`` float32 px
        with NaN where not labelled.
    """
    images, keys, keypoints = _read_table(path)
    return images, ["_".join(k) for k in keys], keypoints


def _last_line(exc: Exception) -> str:
    """The last non-empty line of an error message (HDF5's back-traces end with the cause)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def _read_table(path: Path) -> tuple[list[str], list[tuple[str, ...]], np.ndarray]:
    """:func:`read_dlc_table` with each keypoint's column key: ``(bodypart,)`` or
    ``(individual, bodypart)``."""
    import pandas as pd

    if path.suffix.lower() == ".h5":
        try:
            df = pd.read_hdf(path)
        except Exception as exc:  # PyTables/HDF5 raise many kinds (HDF5ExtError: a back-trace)
            raise DataError(
                f"{path}: cannot read this DeepLabCut .h5 table ({type(exc).__name__}: {_last_line(exc)})"
            ) from None
        if not isinstance(df, pd.DataFrame):
            raise DataError(
                f"{path}: holds a {type(df).__name__}, not a DeepLabCut label DataFrame"
            )
    else:
        df = _read_dlc_csv(path)
    levels = df.columns.nlevels
    if levels not in (3, 4):
        raise DataError(
            f"{path}: expected 3 header levels (scorer, bodyparts, coords) or 4 (scorer, individuals, "
            f"bodyparts, coords), found {levels}"
        )
    cols = df.columns.droplevel(0)
    coords = {str(c) for c in cols.get_level_values(-1)}
    if not {"x", "y"} <= coords:
        raise DataError(
            f"{path}: the 'coords' header level must hold 'x' and 'y', found {sorted(coords)}"
        )
    keys = list(dict.fromkeys(tuple(map(str, c[:-1])) for c in cols))
    table = df.set_axis(pd.MultiIndex.from_tuples([tuple(map(str, c)) for c in cols]), axis=1)
    try:
        xy = [table.loc[:, [(*k, "x"), (*k, "y")]].to_numpy(dtype=np.float64) for k in keys]
    except KeyError as exc:
        raise DataError(f"{path}: a bodypart lacks its x or y column ({exc})") from None
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: non-numeric coordinate ({exc})") from None
    if isinstance(df.index, pd.MultiIndex):
        images = ["/".join(map(str, i)) for i in df.index]
    else:
        images = [str(i).replace("\\", "/") for i in df.index]
    keypoints = checked_points(path, np.stack(xy, axis=1), ["_".join(k) for k in keys], images)
    return images, keys, keypoints


def _table_layout(keys: list[tuple[str, ...]]) -> tuple[list[str], list[str]] | None:
    """``(individuals, bodyparts)`` of a 4-level table's column keys (the ``single``
    individual of unique bodyparts is no animal), or None for a single-animal table."""
    if not keys or len(keys[0]) != 2:
        return None
    animals = list(dict.fromkeys(i for i, _ in keys if i != "single"))
    parts = list(dict.fromkeys(p for i, p in keys if i != "single"))
    return (animals, parts) if animals else None


def _dlc_tables(folder: Path) -> list[list[Path]]:
    """``CollectedData_*.h5`` and ``.csv`` of a labelled-video folder, per scorer: the .h5
    first, then the .csv (the same labels, read when the .h5 cannot be)."""
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.glob("CollectedData_*")):
        if p.suffix.lower() in (".h5", ".csv"):
            found.setdefault(p.stem, []).append(p)
    return [sorted(found[k], key=lambda p: p.suffix.lower() != ".h5") for k in sorted(found)]


def _first_readable(tables: list[Path]):
    """``(table, read, unread)``: the first table of one scorer that reads, what it holds
    (:func:`_read_table`), and ``(path, error or why)`` for each of the others.

    Raises:
        DataError: none of them reads (the last one's error).
    """
    errors: list[tuple[Path, str]] = []
    for i, table in enumerate(tables):
        try:
            read = _read_table(table)
        except DataError as exc:
            if i == len(tables) - 1:
                raise
            errors.append(
                (
                    table,
                    str(exc).removeprefix(f"{table}: ") + f"; read {tables[i + 1].name} instead",
                )
            )
            continue
        rest = [(p, f"the same labels as {table.name}, which is read") for p in tables[i + 1 :]]
        return table, read, errors + rest
    raise AssertionError("no table given")


def read_dlc_project(root: Path) -> list[Stills]:
    """Labelled stills of a DeepLabCut project: ``config.yaml`` + ``labeled-data/*/CollectedData_*``.

    Without a ``config.yaml`` the keypoint names come from the tables. Bodyparts in the config
    but absent from a table are NaN; bodyparts in a table but not in the config are an error.

    Multi-animal projects (``multianimalproject: true``, or tables with an ``individuals``
    level) set ``animals`` (the individuals) and ``nodes`` (``multianimalbodyparts``) on each
    :class:`Stills`: keypoints are ``individuals × bodyparts`` animal-major, then the unique
    bodyparts (``single_<part>``), which belong to no animal.

    Args:
        root: the project folder (the parent of ``labeled-data/``).

    Returns:
        One :class:`Stills` per label table.
    """
    config = root / "config.yaml"
    cfg_names, skeleton, layout = _read_config(config) if config.is_file() else (None, [], None)
    out: list[Stills] = []
    for folder in sorted(p for p in (root / "labeled-data").iterdir() if p.is_dir()):
        for group in _dlc_tables(folder):
            table, (rel, keys, kp), unread = _first_readable(group)
            names = ["_".join(k) for k in keys]
            animals = layout if cfg_names is not None else _table_layout(keys)
            if cfg_names is None and animals is not None:  # animal-major grid, unique parts last
                inds, parts = animals
                grid = [f"{i}_{p}" for i in inds for p in parts]
                full_names = grid + [n for n in names if n not in grid]
                full = np.full((len(kp), len(full_names), 2), np.nan, np.float32)
                full[:, [full_names.index(n) for n in names]] = kp
                kp, names = full, full_names
            if cfg_names is not None:
                extra = [n for n in names if n not in cfg_names]
                if extra:
                    raise DataError(
                        f"{table}: bodypart {extra[0]!r} is not among {config} bodyparts {cfg_names}"
                    )
                full = np.full((len(kp), len(cfg_names), 2), np.nan, np.float32)
                full[:, [cfg_names.index(n) for n in names]] = kp
                kp, names = full, list(cfg_names)
            st = Stills(table, [], [], kp, names, skeleton if cfg_names is not None else [])
            st.unread = unread
            if animals is not None:
                st.animals, st.nodes = list(animals[0]), list(animals[1])
            keep = []
            for row, r in enumerate(rel):
                image = root / r
                image = image if image.is_file() else folder / Path(r).name
                if not image.is_file():
                    st.skipped.append((image, f"listed in {table.name} but not found"))
                    continue
                try:
                    st.sizes.append(image_size(image))
                except DataError as exc:
                    st.skipped.append((image, str(exc).removeprefix(f"{image}: ")))
                    continue
                st.images.append(image)
                st.ids.append(None)
                keep.append(row)
            st.keypoints = kp[keep]
            out.append(st)
    return out
