"""Relevance heatmaps of images (and 1-D signals)."""

import math

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support

from .._backend import to_host

__all__ = ["RelevanceHeatmapDisplay"]


def _to_images(A, input_shape, name):
    """Reshape flat rows to 2-D maps ``(n, H, W)``, summing over channels.

    ``input_shape`` is ``(C, H, W)`` (channels summed), ``(C, L)`` (shown as
    a ``C x L`` map), ``(H, W)`` or ``(n_features,)``; ``None`` tries a
    square ``(1, s, s)`` and falls back to one row per sample.
    """
    A = to_host(A.toarray() if hasattr(A, "toarray") else A)
    A = np.asarray(A, dtype=np.float64)
    if A.ndim == 1:
        A = A[None, :]
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features); got {A.ndim} dimension(s).")
    n, d = A.shape
    if input_shape is None:
        s = math.isqrt(d)
        input_shape = (1, s, s) if s * s == d else (1, d)
    shape = tuple(int(v) for v in input_shape)
    if int(np.prod(shape)) != d or len(shape) not in (1, 2, 3):
        raise ValueError(
            f"input_shape={tuple(input_shape)} does not match the {d} features of {name}; give (C, H, W), "
            "(C, L), (H, W) or (n_features,) whose product is n_features."
        )
    if len(shape) == 3:
        return A.reshape((n,) + shape).sum(axis=1)
    if len(shape) == 1:
        return A.reshape(n, 1, d)
    return A.reshape((n,) + shape)


class RelevanceHeatmapDisplay:
    """Relevance heatmaps, one panel per sample.

    Each panel shows the relevance of one sample (summed over channels) in
    a diverging colour map centred at zero: the colour limits are symmetric,
    ``[-m, m]`` with ``m`` the largest absolute relevance *of that sample*,
    so red marks evidence for the explained class and blue evidence against
    it, whatever the scale of the scores.

    Create it with :meth:`from_estimator` or :meth:`from_relevance`; both
    call :meth:`plot`.

    Parameters
    ----------
    relevance : ndarray of shape (n_samples, H, W)
        Relevance maps (channels already summed).
    images : ndarray of shape (n_samples, H, W) or None, default=None
        The inputs (channels averaged), for the overlay.
    titles : list of str or None, default=None
        One title per panel.

    Attributes
    ----------
    ax_ : ndarray of matplotlib Axes
        The axes of the panels (flat, one per sample).
    figure_ : matplotlib Figure
    images_ : list of matplotlib AxesImage
        The relevance images, one per sample.
    colorbar_ : matplotlib Colorbar or None

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.plotting import RelevanceHeatmapDisplay
    >>> R = np.random.default_rng(0).normal(size=(3, 64))
    >>> disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 8, 8))  # doctest: +SKIP
    """

    def __init__(self, relevance, *, images=None, titles=None):
        self.relevance = relevance
        self.images = images
        self.titles = titles

    # ------------------------------------------------------------ factories
    @classmethod
    def from_relevance(
        cls,
        R,
        X=None,
        *,
        input_shape=None,
        titles=None,
        ax=None,
        n_cols=None,
        cmap="bwr",
        overlay=False,
        alpha=0.7,
        colorbar=False,
    ):
        """Plot relevance given as flat rows.

        Parameters
        ----------
        R : array of shape (n_samples, n_features) or (n_features,)
            Relevance (NumPy, CuPy or sparse; moved to the host).
        X : array of shape (n_samples, n_features), default=None
            The explained inputs, shown under the heatmap when ``overlay``.
        input_shape : tuple of int, default=None
            ``(C, H, W)`` (channels summed), ``(C, L)``, ``(H, W)`` or
            ``(n_features,)``.  ``None`` uses a square ``(1, s, s)`` when
            ``n_features`` is a perfect square and one row otherwise.
        titles : list of str, default=None
            One title per panel.
        ax, n_cols, cmap, overlay, alpha, colorbar
            See :meth:`plot`.

        Returns
        -------
        display : RelevanceHeatmapDisplay
        """
        rel = _to_images(R, input_shape, "R")
        imgs = None
        if X is not None:
            imgs = _to_images(X, input_shape, "X")
            if imgs.shape != rel.shape:
                raise ValueError(f"X and R must have the same shape; got {imgs.shape} and {rel.shape}.")
            if input_shape is not None and len(input_shape) == 3:
                imgs = imgs / input_shape[0]  # channel mean
        disp = cls(rel, images=imgs, titles=titles)
        return disp.plot(ax=ax, n_cols=n_cols, cmap=cmap, overlay=overlay, alpha=alpha, colorbar=colorbar)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        target=None,
        method=None,
        input_shape=None,
        titles=None,
        ax=None,
        n_cols=None,
        cmap="bwr",
        overlay=False,
        alpha=0.7,
        colorbar=False,
    ):
        """Explain ``X`` with ``estimator`` and plot the relevance.

        Parameters
        ----------
        estimator : fitted explainable estimator or Pipeline
            Explained with :func:`sklrp.explain` (a Pipeline in its last
            step's input space).
        X : array of shape (n_samples, n_features)
        target : None, label or labels, default=None
            Passed to ``explain``; ``None`` explains the predicted class.
        method : str, default=None
            Explanation method (``"lrp"``, ``"sensitivity"``, ...);
            ``None`` uses the estimator's own ``method``.
        input_shape : tuple of int, default=None
            ``None`` uses the final estimator's ``input_shape_`` when it has
            one (see :meth:`from_relevance` otherwise).
        titles, ax, n_cols, cmap, overlay, alpha, colorbar
            See :meth:`from_relevance` and :meth:`plot`.

        Returns
        -------
        display : RelevanceHeatmapDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        from ..base import explain, final_estimator, transform_to_final

        kwargs = {} if method is None else {"method": method}
        R = explain(estimator, X, target=target, **kwargs)
        if input_shape is None:
            input_shape = getattr(final_estimator(estimator), "input_shape_", None)
        Xf = transform_to_final(estimator, X)
        return cls.from_relevance(
            R,
            Xf,
            input_shape=input_shape,
            titles=titles,
            ax=ax,
            n_cols=n_cols,
            cmap=cmap,
            overlay=overlay,
            alpha=alpha,
            colorbar=colorbar,
        )

    # ----------------------------------------------------------------- plot
    def plot(self, ax=None, *, n_cols=None, cmap="bwr", overlay=False, alpha=0.7, colorbar=False):
        """Draw the heatmaps.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            One Axes per sample (a single Axes for a single sample).
            ``None`` creates a figure with a grid of ``n_cols`` columns.
        n_cols : int, default=None
            Columns of the grid when ``ax`` is None; ``None`` uses
            ``min(n_samples, 8)``.
        cmap : str or Colormap, default="bwr"
            A diverging colour map; its centre is mapped to zero relevance.
        overlay : bool, default=False
            Draw the input (grey) under a semi-transparent heatmap; needs
            ``images``.
        alpha : float, default=0.7
            Opacity of the heatmap over the input when ``overlay``.
        colorbar : bool, default=False
            Add a colour bar to the last panel (its limits are that panel's).

        Returns
        -------
        self : RelevanceHeatmapDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        rel = np.asarray(self.relevance, dtype=np.float64)
        if rel.ndim == 2:
            rel = rel[None]
        n = rel.shape[0]
        if overlay and self.images is None:
            raise ValueError("overlay=True needs the input images; pass X to from_relevance / from_estimator.")
        if ax is None:
            if n_cols is None:
                n_cols = min(n, 8)
            if not isinstance(n_cols, (int, np.integer)) or n_cols < 1:
                raise ValueError(f"n_cols must be a positive int; got {n_cols!r}.")
            n_rows = -(-n // n_cols)
            fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.6 * n_cols, 1.6 * n_rows), squeeze=False)
            axes = axes.ravel()
            for extra in axes[n:]:
                extra.set_axis_off()
        else:
            axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
            if axes.size < n:
                raise ValueError(f"ax holds {axes.size} Axes but there are {n} samples to plot.")
            fig = axes[0].figure
        if self.titles is not None and len(self.titles) != n:
            raise ValueError(f"titles must hold one title per sample ({n}); got {len(self.titles)}.")
        images = []
        for i in range(n):
            a = axes[i]
            m = float(np.abs(rel[i]).max())
            m = m if m > 0 else 1.0
            if overlay:
                a.imshow(self.images[i], cmap="gray_r", interpolation="nearest")
                im = a.imshow(rel[i], cmap=cmap, vmin=-m, vmax=m, alpha=alpha, interpolation="nearest")
            else:
                im = a.imshow(rel[i], cmap=cmap, vmin=-m, vmax=m, interpolation="nearest")
            images.append(im)
            a.set_xticks([])
            a.set_yticks([])
            if self.titles is not None:
                a.set_title(str(self.titles[i]), fontsize="small")
        self.colorbar_ = fig.colorbar(images[-1], ax=axes[n - 1]) if colorbar else None
        self.ax_ = axes[:n]
        self.figure_ = fig
        self.images_ = images
        return self
