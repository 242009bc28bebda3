"""Frames of a video: a file (any OpenCV-readable format), a folder or list of images, or memory.

Anything a dataset puts in ``VideoItem.reader`` must offer what :class:`Frames` lists;
:class:`VideoReader` (files, frame folders, image lists) and :class:`ArrayFrames` (frames
already in memory) do.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from kpbench.errors import DataError

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm", ".seq"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


class Frames(Protocol):
    """What the harness and tasks read from a video (``VideoItem.reader``).

    Attributes:
        name: the video's name; path: its file or folder, or None for frames in memory.
        num_frames, fps, width, height: count, frames per second, frame size in px.
    """

    name: str
    path: Path | None
    num_frames: int
    fps: float
    width: int
    height: int

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``(H, W, 3)`` uint8 RGB."""

    def iter_frames(
        self, indices: Iterable[int] | None = None, size: tuple[int, int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` for sorted ``indices`` (all if None), resized to ``size``."""


class VideoReader:
    """Frames of one video file, one folder of frame images, or a list of image files, as RGB uint8.

    Args:
        path: a video file, or a folder whose image files (sorted by name) are the frames,
            or a list of image files (in order; ``name`` names the sequence).
        name: the sequence's name for a list of images (default: the first file's folder).

    Raises:
        DataError: the file cannot be opened or has no decodable frame, or the images of a
            folder (list) are not all of one size.

    Attributes:
        name: file stem (or folder name).
        num_frames: number of usable frames: the header's count, checked by seeking to and
            decoding its last frame; for a truncated file (that check fails) or a header without
            a count, the number of frames decoded in one pass.
        header_frames: the frame count the file's header claims (0 if none; for folders and
            image lists the number of images). ``header_frames > num_frames``: truncated.
        fps: frames per second (from the container; 30.0 for folders of frames).
        width, height: frame size in pixels.
    """

    def __init__(self, path: str | Path | list, name: str | None = None):
        import cv2

        self._frames: list[Path] | None = None
        if isinstance(path, (list, tuple)):
            if not path:
                raise DataError("VideoReader: an empty list of images")
            self._frames = [Path(p) for p in path]
            path = self._frames[0].parent
        self.path = Path(path)
        if self._frames is None and self.path.is_file() and shown(self.path) != str(self.path):
            raise DataError(
                f"{shown(self.path)}: the file name is not valid UTF-8, which OpenCV cannot open; "
                "rename the file"
            )
        self.name = name or (self.path.stem if self.path.is_file() else self.path.name)
        if self._frames is not None or self.path.is_dir():
            self._frames = self._frames or sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self._frames:
                raise DataError(
                    f"{self.path}: folder has no frame images ({', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            self.width, self.height = _one_size(self.path, self._frames)
            self._imread(self._frames[0])
            self.num_frames = self.header_frames = len(self._frames)
            self.fps = 30.0
            return
        if not self.path.exists():
            raise DataError(f"{self.path}: video file not found")
        cap = cv2.VideoCapture(str(self.path))
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            cap.release()
            raise DataError(
                f"{self.path}: cannot decode this video with OpenCV (corrupt or unsupported codec); "
                "re-encode it, e.g. `ffmpeg -i in -c:v libx264 out.mp4`"
            )
        self.height, self.width = frame.shape[:2]
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if np.isfinite(fps) and 0 < fps < 10_000 else 30.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.header_frames = max(count, 0)
        # the header's count where its last frame decodes; else (truncated) count them
        self.num_frames = count if count > 0 and _decodes(cap, count - 1) else self._count_frames()
        cap.release()

    def __repr__(self) -> str:
        return f"VideoReader({str(self.path)!r}, frames={self.num_frames}, size={self.width}x{self.height})"

    def __len__(self) -> int:
        return self.num_frames

    @staticmethod
    def _imread(path: Path) -> np.ndarray:
        return imread_rgb(path)

    def _count_frames(self) -> int:
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        n = 0
        while cap.grab():
            n += 1
        cap.release()
        return n

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``(H, W, 3)`` uint8 RGB (random access; sequential reads are faster)."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f"{self.path}: frame {index} out of range 0..{self.num_frames - 1}")
        for _, frame in self.iter_frames([index]):
            return frame
        raise DataError(f"{self.path}: frame {index} could not be decoded")

    def iter_frames(
        self, indices: Iterable[int] | None = None, size: tuple[int, int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` for sorted ``indices`` (all frames if None), decoding sequentially.

        Args:
            indices: frame indices to yield; duplicates are yielded once.
            size: optional ``(W, H)`` to resize each frame to (``cv2.INTER_AREA``).

        Indices at or beyond :attr:`num_frames` end the iteration.

        Raises:
            DataError: a frame before :attr:`num_frames` cannot be decoded (a file damaged in
                the middle: its last frame decodes, an earlier one does not).
        """
        import cv2

        wanted = range(self.num_frames) if indices is None else sorted(set(int(i) for i in indices))

        def _resize(img: np.ndarray) -> np.ndarray:
            if size is None or (img.shape[1], img.shape[0]) == tuple(size):
                return img
            return cv2.resize(img, tuple(size), interpolation=cv2.INTER_AREA)

        if self._frames is not None:
            for i in wanted:
                yield i, _resize(self._imread(self._frames[i]))
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            pos = 0
            for i in wanted:
                if i - pos > 64:  # a long jump: seek instead of grabbing every frame
                    cap.set(cv2.CAP_PROP_POS_FRAMES, i)
                    pos = int(cap.get(cv2.CAP_PROP_POS_FRAMES))
                while pos < i:
                    if not cap.grab():
                        return self._damaged(pos, i)
                    pos += 1
                ok, frame = cap.read()
                if not ok:
                    return self._damaged(pos, i)
                pos += 1
                yield i, _resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        finally:
            cap.release()

    def _damaged(self, pos: int, wanted: int) -> None:
        """End an iteration that reached ``wanted``'s end; raise if a usable frame failed."""
        if wanted < self.num_frames:
            raise DataError(
                f"{shown(self.path)}: frame {pos} of its {self.num_frames} frames cannot be decoded "
                "(the file is damaged); re-encode it, e.g. `ffmpeg -i in -c:v libx264 out.mp4`"
            )

    def read_all(
        self, size: tuple[int, int] | None = None, indices: Iterable[int] | None = None
    ) -> np.ndarray:
        """Decode frames into one ``(N, H, W, 3)`` uint8 array (optionally resized to ``(W, H)``)."""
        frames = [f for _, f in self.iter_frames(indices, size)]
        if not frames:
            raise DataError(f"{self.path}: no frame could be decoded")
        return np.stack(frames)


class ArrayFrames:
    """Frames already in memory, ``(T, H, W, 3)`` uint8 RGB, read like a :class:`VideoReader`.

    Args:
        frames: the frames.
        name: the sequence's name.
        fps: frames per second.
    """

    path = None

    def __init__(self, frames: np.ndarray, name: str = "frames", fps: float = 30.0):
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
            raise DataError(
                f"ArrayFrames {name}: need (T, H, W, 3) uint8 RGB with T >= 1, "
                f"got {frames.shape} {frames.dtype}"
            )
        self.frames, self.name, self.fps = frames, name, float(fps)
        self.num_frames, self.height, self.width = frames.shape[0], frames.shape[1], frames.shape[2]

    def __len__(self) -> int:
        return self.num_frames

    def read(self, index: int) -> np.ndarray:
        if not 0 <= index < self.num_frames:
            raise IndexError(f"{self.name}: frame {index} out of range 0..{self.num_frames - 1}")
        return self.frames[index]

    def iter_frames(self, indices=None, size=None):
        import cv2

        wanted = range(self.num_frames) if indices is None else sorted(set(int(i) for i in indices))
        for i in wanted:
            img = self.read(i)
            if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
                img = cv2.resize(img, tuple(size), interpolation=cv2.INTER_AREA)
            yield i, img

    def read_all(self, size=None, indices=None) -> np.ndarray:
        return np.stack([f for _, f in self.iter_frames(indices, size)])


def shown(path: Path | str) -> str:
    """``path`` as printable text: bytes of a name that is not UTF-8 as ``\\xff`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def imread_rgb(path: Path) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB (decoded from its bytes: any file name works).

    Raises:
        DataError: the file cannot be read or decoded (one line naming it).
    """
    import cv2

    try:
        img = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    except (OSError, cv2.error) as exc:
        why = " ".join(str(exc).split())[-120:]
        raise DataError(f"{shown(path)}: cannot read this image ({why})") from None
    if img is None:
        raise DataError(f"{shown(path)}: cannot read this image (corrupt or unsupported format)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _decodes(cap, index: int) -> bool:
    """Frame ``index`` decodes after a seek, and the capture says it is there (a truncated mp4
    answers a seek past its end with its last decodable frame)."""
    import cv2

    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    return bool(ok) and frame is not None and round(cap.get(cv2.CAP_PROP_POS_FRAMES)) == index + 1


def _one_size(where: Path, images: list[Path]) -> tuple[int, int]:
    """``(W, H)`` shared by every image (headers only), else a DataError listing the sizes."""
    from PIL import Image

    sizes: dict[tuple[int, int], list[str]] = {}
    for p in images:
        try:
            with Image.open(p) as im:
                sizes.setdefault(im.size, []).append(p.name)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            why = " ".join(str(exc).split())
            raise DataError(f"{shown(p)}: cannot read this image ({why})") from None
    if len(sizes) > 1:
        say = "; ".join(
            f"{w}x{h}: {len(n)} frames, e.g. {shown(n[0])}" for (w, h), n in sizes.items()
        )
        raise DataError(
            f"{where}: frame images of different sizes ({say}); resize them to one size or put "
            "each size in its own folder"
        )
    return next(iter(sizes))


def is_video_path(path: Path) -> bool:
    """True for a video file, or for a folder that holds frame images."""
    if path.is_file():
        return path.suffix.lower() in VIDEO_SUFFIXES
    return path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
