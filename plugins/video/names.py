"""One skeleton per ``video`` data folder: every label source names the same keypoints and lays
out the same animals; the dataset's names, skeleton and per-animal layout come from them."""

from __future__ import annotations

from kpbench.dataset import KeypointDataset
from kpbench.errors import DataError

Layout = tuple[tuple[str, ...], tuple[str, ...]] | None


def layout(labels) -> Layout:
    """``(animals, nodes)`` of a label source with several animals side by side, else None."""
    animals = getattr(labels, "animals", None)
    return None if not animals else (tuple(animals), tuple(labels.nodes))


def check_names(data: KeypointDataset, sources: list) -> None:
    """Set ``data``'s ``keypoint_names``, ``skeleton`` and per-animal layout
    (``frame_instances``, ``instance_keypoint_names``) from label sources (``Stills`` or
    ``TrackLabels``: ``label_file``, ``names``, ``skeleton``, ``animals``, ``nodes``).

    Raises:
        DataError: two sources disagree on the keypoint names or on the animals in a frame.
    """
    if not sources:
        return
    first, data.keypoint_names = sources[0].label_file, list(sources[0].names)
    first_layout = layout(sources[0])
    for src in sources:
        if src.names != data.keypoint_names:
            raise DataError(
                f"label files disagree on keypoint names: {first} has {data.keypoint_names}, "
                f"{src.label_file} has {src.names}; keep label files of one skeleton in a data folder"
            )
        if layout(src) != first_layout:
            say = lambda lay: f"animals {list(lay[0])}" if lay else "one animal"  # noqa: E731
            raise DataError(
                f"label files disagree on the animals in a frame: {first} labels {say(first_layout)}, "
                f"{src.label_file} labels {say(layout(src))}; keep label files of one kind in a data folder"
            )
        if src.skeleton and not data.skeleton:
            data.skeleton = [tuple(e) for e in src.skeleton]
    if first_layout is not None:
        data.frame_instances = list(first_layout[0])
        data.instance_keypoint_names = list(first_layout[1])
