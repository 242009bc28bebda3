"""``alignment`` metrics: TCC's evaluation of frozen per-frame embeddings, and its plot.

Every metric is a pure function of the ``alignment`` evaluation record (its keys are documented
in :func:`kpbench.tasks.alignment.evaluation`): ``embeddings`` (F, D), per frame ``phases``,
``progress``, ``sequence`` and ``frame``; per sequence ``lengths``, ``sets``, ``names`` and
``split`` (``"test"``: scored; ``"train"``: only fits the probes); ``stride``.

**Scoring.** Only test sequences are scored, within each set (one action): a metric's value is
the mean over the sets it could score, and its breakdown lists ``per_set`` values. A set that
cannot be scored (one test sequence and nothing to pair it with, one phase in the frames a
classifier is fitted on, every τ undefined) is NaN in ``per_set`` and its reason is the label
of a NaN entry under ``not_scored`` (``"pour: one test sequence, no pair"``); when no set can be
scored the value is NaN (``null`` in the record).

**Definitions** (google-research ``tcc/evaluation``; cycle consistency from the same
repository's ``xirl/xirl/evaluators/cycle_consistency.py``, the two-way form of Aytar et al.
2018, as TCC's released evaluation has none). Nearest neighbours use the squared Euclidean
distance (scipy ``cdist``, ``"sqeuclidean"``); ties go to the earlier frame.

* ``kendalls_tau``: for every ordered pair (i, j) of test sequences of a set, every ``stride``-th
  frame of i is matched to its nearest neighbour among every ``stride``-th frame of j; τ is
  scipy ``kendalltau`` (τ-b) between the query index and the matched index. Mean over pairs,
  NaN (a constant match) dropped.
* ``cycle_consistency`` (%): for the same pairs and frames, the nearest neighbour in j of each
  frame of i is matched back to i; the frame is consistent when it comes back within one
  (strided) frame of where it started. Mean over pairs of the consistent fraction, ×100. (xirl
  compares the strided index that came back with the unstrided frame number; the two agree at
  stride 1, kpbench's default.)
* ``phase_accuracy@f`` (%): TCC's phase classifier, scikit-learn ``SVC`` (RBF kernel,
  ``decision_function_shape='ovo'``, defaults otherwise) after a ``StandardScaler`` fitted on
  the same frames (TCC feeds raw embeddings; scaling keeps the RBF width meaningful for any
  embedding scale). It is fitted on every frame of ``max(1, int(f · n))`` of the set's n train
  sequences, a seeded (:data:`PROBE_SEED`) draw whose smaller fractions are subsets of the
  larger; accuracy over every test frame, ×100.
* ``phase_progression`` (R²): scikit-learn ``LinearRegression`` from the embedding to the
  frame's ``progress``, fitted on every train frame of the set, R² (``r2_score``) on its test
  frames. (TCC regresses the time to each key event and averages R² over events; a sample
  here carries the progress itself.)
* ``phase_agreement`` (%): for every ordered pair of test sequences of a set, the fraction of
  frames of i whose nearest neighbour in j (every frame, no stride) has the same phase; mean
  over pairs, ×100.

**Without train sequences.** When a set has no train sequence, the probes are fitted leave one
sequence out: each test sequence is predicted by a probe fitted on the set's other test
sequences (the fraction then draws from those). The breakdown's ``leave_one_out`` says which
sets were scored so.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

AlignmentEvaluation = dict  # the record's form is documented in kpbench.tasks.alignment
#: Seed of the draw of train sequences behind ``phase_accuracy@f``; the same for every run.
PROBE_SEED = 0


class _NotScored(Exception):
    """A set that cannot be scored; the message is the reason."""


def _starts(ev: AlignmentEvaluation) -> np.ndarray:
    lengths = np.asarray(ev["lengths"], np.int64)
    return np.cumsum(lengths) - lengths


def _frames(ev: AlignmentEvaluation, seqs, key: str = "embeddings") -> np.ndarray:
    """``ev[key]`` rows of the sequences ``seqs``, concatenated in that order."""
    starts, lengths = _starts(ev), np.asarray(ev["lengths"], np.int64)
    rows = np.concatenate([np.arange(starts[s], starts[s] + lengths[s]) for s in seqs])
    return np.asarray(ev[key])[rows]


def _groups(ev: AlignmentEvaluation) -> dict[str, tuple[list[int], list[int]]]:
    """Set name → (test sequence indices, train sequence indices), sets in order of first test."""
    sets = [str(s) for s in ev["sets"]]
    split = [str(s) for s in ev.get("split", ["test"] * len(sets))]
    emb = np.asarray(ev["embeddings"])
    if emb.ndim != 2 or len(emb) != int(np.sum(ev["lengths"])):
        raise ValueError(
            f"alignment evaluation: embeddings {emb.shape} must be (F, D) with F = "
            f"{int(np.sum(ev['lengths']))}, the frames of all sequences"
        )
    out: dict[str, tuple[list[int], list[int]]] = {}
    for i, (name, part) in enumerate(zip(sets, split)):
        if part == "test":
            out.setdefault(name, ([], []))[0].append(i)
    for i, (name, part) in enumerate(zip(sets, split)):
        if part == "train" and name in out:
            out[name][1].append(i)
    if not out:
        raise ValueError("alignment evaluation: no test sequence to score")
    return out


def _per_set(ev: AlignmentEvaluation, fn: Callable, extra: dict | None = None) -> tuple:
    """Mean of ``fn(ev, test, train)`` over the sets, with ``per_set`` and ``not_scored``."""
    per_set, reasons = {}, {}
    for name, (test, train) in _groups(ev).items():
        try:
            per_set[name] = float(fn(ev, test, train))
        except _NotScored as why:
            per_set[name] = float("nan")
            reasons[f"{name}: {why}"] = float("nan")
    values = np.array(list(per_set.values()))
    value = float(values[~np.isnan(values)].mean()) if (~np.isnan(values)).any() else float("nan")
    breakdown = {"per_set": per_set, **(extra or {})}
    if reasons:
        breakdown["not_scored"] = reasons
    return value, breakdown


def _nearest(query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Index of each query row's nearest candidate row (squared Euclidean)."""
    from scipy.spatial.distance import cdist

    return np.argmin(cdist(query, candidates, "sqeuclidean"), axis=1)


def _pairs(test: list[int]) -> list[tuple[int, int]]:
    if len(test) < 2:
        raise _NotScored("one test sequence, no pair")
    return [(i, j) for i in test for j in test if i != j]


def _strided(ev: AlignmentEvaluation, s: int) -> np.ndarray:
    stride = int(ev.get("stride", 1))
    if stride < 1:
        raise ValueError(f"alignment evaluation: stride {stride} must be >= 1")
    return _frames(ev, [s])[::stride]


def nn_path(ev: AlignmentEvaluation, a: int, b: int, stride: int = 1) -> np.ndarray:
    """Nearest-neighbour index in sequence ``b`` of every ``stride``-th frame of ``a``."""
    return _nearest(_frames(ev, [a])[::stride], _frames(ev, [b])[::stride])


def _tau(ev, test, train) -> float:
    from scipy.stats import kendalltau

    taus = []
    for i, j in _pairs(test):
        nns = _nearest(_strided(ev, i), _strided(ev, j))
        with warnings.catch_warnings():  # a constant match: τ undefined (NaN), dropped
            warnings.simplefilter("ignore")
            taus.append(kendalltau(np.arange(len(nns)), nns).statistic)
    taus = np.array(taus, np.float64)
    if np.isnan(taus).all():
        raise _NotScored("τ undefined for every pair (constant nearest neighbours)")
    return float(np.nanmean(taus))


def kendalls_tau(ev: AlignmentEvaluation) -> tuple[float, dict]:
    """Kendall's τ of nearest-neighbour alignment (module docs), unitless, higher is better."""
    return _per_set(ev, _tau)


def _cycle(ev, test, train) -> float:
    scores = []
    for i, j in _pairs(test):
        u, v = _strided(ev, i), _strided(ev, j)
        back = _nearest(v[_nearest(u, v)], u)
        scores.append(np.mean(np.abs(back - np.arange(len(u))) <= 1))
    return 100.0 * float(np.mean(scores))


def cycle_consistency(ev: AlignmentEvaluation) -> tuple[float, dict]:
    """Two-way cycle consistency (module docs), %, higher is better."""
    return _per_set(ev, _cycle)


def _agreement(ev, test, train) -> float:
    scores = []
    for i, j in _pairs(test):
        nns = _nearest(_frames(ev, [i]), _frames(ev, [j]))
        scores.append(np.mean(_frames(ev, [i], "phases") == _frames(ev, [j], "phases")[nns]))
    return 100.0 * float(np.mean(scores))


def phase_agreement(ev: AlignmentEvaluation) -> tuple[float, dict]:
    """Phase agreement of nearest neighbours across test sequences (module docs), %, higher
    is better."""
    return _per_set(ev, _agreement)


def _folds(test: list[int], train: list[int]) -> list[tuple[list[int], list[int]]]:
    """(fit sequences, scored sequences): the train sequences for all the test ones, else leave
    one test sequence out."""
    if train:
        return [(train, test)]
    if len(test) < 2:
        raise _NotScored("one test sequence and no train sequence to fit on")
    return [([o for o in test if o != k], [k]) for k in test]


def _probe(ev, test, train, make, target: str, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Pooled (truth, prediction) of the held-out frames over the folds."""
    truth, guess = [], []
    for fit, scored in _folds(test, train):
        order = np.random.default_rng(PROBE_SEED).permutation(len(fit))
        used = [fit[k] for k in sorted(order[: max(1, int(fraction * len(fit)))])]
        y = _frames(ev, used, target)
        if target == "phases" and len(np.unique(y)) < 2:
            raise _NotScored(f"one phase ({int(y[0])}) in the frames the classifier is fit on")
        model = make().fit(_frames(ev, used), y)
        truth.append(_frames(ev, scored, target))
        guess.append(model.predict(_frames(ev, scored)))
    return np.concatenate(truth), np.concatenate(guess)


def _loo_sets(ev: AlignmentEvaluation) -> dict:
    return {"leave_one_out": {n: float(not tr) for n, (_, tr) in _groups(ev).items()}}


def _svc():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(decision_function_shape="ovo"))


def phase_accuracy(ev: AlignmentEvaluation, fraction: float) -> tuple[float, dict]:
    """Per-frame phase accuracy of an RBF SVC fitted on a ``fraction`` of the train sequences
    (module docs), %, higher is better."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"phase_accuracy: fraction {fraction} must be in (0, 1]")

    def one(ev, test, train):
        truth, guess = _probe(ev, test, train, _svc, "phases", fraction)
        return 100.0 * float(np.mean(truth == guess))

    return _per_set(ev, one, _loo_sets(ev))


def phase_progression(ev: AlignmentEvaluation) -> tuple[float, dict]:
    """R² of a linear regression from embedding to progress (module docs), higher is better."""
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    def one(ev, test, train):
        truth, guess = _probe(ev, test, train, LinearRegression, "progress", 1.0)
        return r2_score(truth, guess)

    return _per_set(ev, one, _loo_sets(ev))


def preview_pair(ev: AlignmentEvaluation) -> tuple[int, int] | None:
    """The first two test sequences of the first set that has two (the plot's pair), or None."""
    for test, _ in _groups(ev).values():
        if len(test) >= 2:
            return test[0], test[1]
    return None


def _panel(ax, ev: AlignmentEvaluation, seq: int, t: int, title: str) -> None:
    thumbs, kps = ev.get("thumbnails") or {}, ev.get("keypoints") or {}
    if seq in thumbs:
        ax.imshow(thumbs[seq][t])
    elif seq in kps:
        kp = np.asarray(kps[seq], np.float64)
        ax.scatter(kp[t, :, 0], kp[t, :, 1], s=8, c=np.arange(kp.shape[1]), cmap="viridis")
        lo, hi = np.nanmin(kp, axis=(0, 1)), np.nanmax(kp, axis=(0, 1))
        pad = 0.05 * float(np.max(hi - lo) + 1.0)
        ax.set(xlim=(lo[0] - pad, hi[0] + pad), ylim=(hi[1] + pad, lo[1] - pad), aspect="equal")
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def write_plot(ev: AlignmentEvaluation, folder) -> dict:
    """Write ``alignment.png``: the nearest-neighbour path between the first two test sequences
    of one set (:func:`preview_pair`), with the diagonal scaled to their lengths, and four
    matched frame pairs side by side (thumbnails, or the keypoints when the inputs have no
    frames). Written atomically (a temporary file renamed over it).

    Returns:
        ``{"alignment_plot": path}``.

    Raises:
        ValueError: no set has two test sequences.
    """
    import os
    from pathlib import Path

    from matplotlib.figure import Figure

    pair = preview_pair(ev)
    if pair is None:
        raise ValueError("alignment plot: no set has two test sequences to align")
    a, b = pair
    names, lengths = [str(n) for n in ev["names"]], np.asarray(ev["lengths"], np.int64)
    path_b = nn_path(ev, a, b)
    fig = Figure(figsize=(9.0, 5.0), layout="constrained")
    grid = fig.add_gridspec(4, 3, width_ratios=[3, 1, 1])
    ax = fig.add_subplot(grid[:, 0])
    ax.plot(np.arange(lengths[a]), path_b, ".-", ms=3, label="nearest neighbour")
    ax.plot([0, lengths[a] - 1], [0, lengths[b] - 1], "k--", lw=1, label="diagonal")
    ax.set(
        xlabel=f"frame of {names[a]}",
        ylabel=f"matched frame of {names[b]}",
        title=f"set {ev['sets'][a]}: {names[a]} → {names[b]}",
    )
    ax.legend(fontsize=7)
    for row, t in enumerate(np.linspace(0, lengths[a] - 1, 4).round().astype(int)):
        _panel(fig.add_subplot(grid[row, 1]), ev, a, t, f"{names[a]} #{t}")
        _panel(fig.add_subplot(grid[row, 2]), ev, b, int(path_b[t]), f"{names[b]} #{path_b[t]}")
    out = Path(folder) / "alignment.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".alignment.png.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"alignment_plot": out}
