"""Relevance heatmaps of images (and 1-D signals)."""

import math
import numbers

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
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or infinity.")
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


_SCALES = ("sample", "shared")


def _check_scale(scale):
    """Validate ``scale``: ``"sample"``, ``"shared"`` or a positive finite number."""
    if isinstance(scale, str):
        if scale in _SCALES:
            return scale
    elif isinstance(scale, numbers.Real) and not isinstance(scale, (bool, np.bool_)):
        value = float(scale)
        if np.isfinite(value) and value > 0:
            return value
    raise ValueError(
        f"scale must be 'sample', 'shared' or a positive finite number (a fixed vmax); got {scale!r}."
    )


def _symmetric_limit(a):
    """Largest absolute value of ``a``; 1.0 when it is all zero."""
    m = float(np.abs(a).max()) if a.size else 0.0
    return m if m > 0 else 1.0


class RelevanceHeatmapDisplay:
    """Relevance heatmaps, one panel per sample, with colour bars.

    Each panel shows the relevance of one sample (summed over channels) in
    a diverging colour map centred at zero: the colour limits are symmetric,
    ``[-m, m]``, so red marks evidence for the explained class and blue
    evidence against it.  ``scale`` chooses ``m``: by default the largest
    absolute relevance *of each sample* (every panel uses its full colour
    range, and has its own colour bar); ``scale="shared"`` uses one limit
    for all panels (one colour bar), and a number fixes the limit, so that
    several displays -- e.g. one per explanation method -- share one scale
    and their colours can be compared.

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
    vmax_ : ndarray of shape (n_samples,)
        The colour limit of each panel: panel ``i`` maps ``[-vmax_[i],
        vmax_[i]]`` onto the colour map (values beyond are clipped to the
        end colours).
    colorbars_ : list of matplotlib Colorbar
        One per panel with ``scale="sample"``, a single one otherwise; empty
        with ``colorbar=False``.
    colorbar_ : matplotlib Colorbar or None
        The last of ``colorbars_`` (the shared one when the scale is shared
        or fixed); ``None`` with ``colorbar=False``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.plotting import RelevanceHeatmapDisplay
    >>> R = np.random.default_rng(0).normal(size=(3, 64))
    >>> disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 8, 8))  # doctest: +SKIP
    >>> disp = RelevanceHeatmapDisplay.from_relevance(R, input_shape=(1, 8, 8), scale="shared")  # doctest: +SKIP
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
        scale="sample",
        colorbar=True,
        colorbar_kw=None,
    ):
        """Plot relevance given as flat rows.

        Parameters
        ----------
        R : array of shape (n_samples, n_features) or (n_features,)
            Relevance (NumPy, CuPy or sparse; moved to the host).  NaN or
            infinity raises a ``ValueError``: the colour limits are the largest
            absolute relevance.
        X : array of shape (n_samples, n_features), default=None
            The explained inputs, shown under the heatmap when ``overlay``;
            finite.
        input_shape : tuple of int, default=None
            ``(C, H, W)`` (channels summed), ``(C, L)``, ``(H, W)`` or
            ``(n_features,)``.  ``None`` uses a square ``(1, s, s)`` when
            ``n_features`` is a perfect square and one row otherwise.
        titles : list of str, default=None
            One title per panel.
        ax, n_cols, cmap, overlay, alpha, scale, colorbar, colorbar_kw
            See :meth:`plot`.

        Returns
        -------
        display : RelevanceHeatmapDisplay
        """
        scale = _check_scale(scale)
        rel = _to_images(R, input_shape, "R")
        imgs = None
        if X is not None:
            imgs = _to_images(X, input_shape, "X")
            if imgs.shape != rel.shape:
                raise ValueError(f"X and R must have the same shape; got {imgs.shape} and {rel.shape}.")
            if input_shape is not None and len(input_shape) == 3:
                imgs = imgs / input_shape[0]  # channel mean
        disp = cls(rel, images=imgs, titles=titles)
        return disp.plot(
            ax=ax, n_cols=n_cols, cmap=cmap, overlay=overlay, alpha=alpha, scale=scale, colorbar=colorbar,
            colorbar_kw=colorbar_kw,
        )

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
        scale="sample",
        colorbar=True,
        colorbar_kw=None,
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
        titles, ax, n_cols, cmap, overlay, alpha, scale, colorbar, colorbar_kw
            See :meth:`from_relevance` and :meth:`plot`.

        Returns
        -------
        display : RelevanceHeatmapDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        from ..base import explain, final_estimator, transform_to_final

        scale = _check_scale(scale)  # before the (possibly slow) explanation
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
            scale=scale,
            colorbar=colorbar,
            colorbar_kw=colorbar_kw,
        )

    # ----------------------------------------------------------------- plot
    def plot(
        self,
        ax=None,
        *,
        n_cols=None,
        cmap="bwr",
        overlay=False,
        alpha=0.7,
        scale="sample",
        colorbar=True,
        colorbar_kw=None,
    ):
        """Draw the heatmaps.

        Parameters
        ----------
        ax : matplotlib Axes or array-like of Axes, default=None
            One Axes per sample (a single Axes for a single sample).
            ``None`` creates a figure (constrained layout) with a grid of
            ``n_cols`` columns.
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
        scale : {"sample", "shared"} or float, default="sample"
            Colour limits ``[-m, m]`` of the panels.

            - ``"sample"``: ``m`` is each sample's largest absolute
              relevance; every panel uses the full colour range, so colours
              compare pixels *within* a panel only.
            - ``"shared"``: ``m`` is the largest absolute relevance over all
              panels of this display; colours compare across its panels.
            - a positive number: ``m`` itself.  Pass the same number to
              several displays (e.g. one per explanation method) to compare
              them on one scale; relevance beyond ``[-m, m]`` takes the end
              colours (the colour bar then shows triangular ends).
        colorbar : bool, default=True
            Draw colour bars: a slim one beside every panel with
            ``scale="sample"`` (each shows its panel's limits), one for all
            the panels otherwise.  Ticks are at ``-m``, ``0`` and ``m``.
        colorbar_kw : dict, default=None
            Keyword arguments of ``Figure.colorbar`` overriding the defaults
            (e.g. ``{"location": "bottom", "label": "relevance"}``).

        Returns
        -------
        self : RelevanceHeatmapDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        scale = _check_scale(scale)
        if colorbar_kw is not None and not isinstance(colorbar_kw, dict):
            raise ValueError(f"colorbar_kw must be a dict or None; got {type(colorbar_kw).__name__}.")
        rel = np.asarray(self.relevance, dtype=np.float64)
        if not np.all(np.isfinite(rel)):  # the colour limits are the largest absolute relevance
            raise ValueError("The relevance contains NaN or infinity.")
        if rel.ndim == 2:
            rel = rel[None]
        n = rel.shape[0]
        if overlay and self.images is None:
            raise ValueError("overlay=True needs the input images; pass X to from_relevance / from_estimator.")
        if self.titles is not None and len(self.titles) != n:
            raise ValueError(f"titles must hold one title per sample ({n}); got {len(self.titles)}.")
        per_panel = scale == "sample"
        if ax is None:
            if n_cols is None:
                n_cols = min(n, 8)
            if not isinstance(n_cols, (int, np.integer)) or isinstance(n_cols, (bool, np.bool_)) or n_cols < 1:
                raise ValueError(f"n_cols must be a positive int; got {n_cols!r}.")
            n_rows = -(-n // n_cols)
            width = (2.1 if colorbar and per_panel else 1.6) * n_cols + (0.8 if colorbar and not per_panel else 0)
            height = 1.6 * n_rows + (0.25 * n_rows if self.titles is not None else 0)
            fig, axes = plt.subplots(n_rows, n_cols, figsize=(width, height), squeeze=False, layout="constrained")
            axes = axes.ravel()
            for extra in axes[n:]:
                extra.set_axis_off()
        else:
            axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
            if axes.size < n:
                raise ValueError(f"ax holds {axes.size} Axes but there are {n} samples to plot.")
            fig = axes[0].figure

        if scale == "sample":
            vmax = np.array([_symmetric_limit(r) for r in rel])
        elif scale == "shared":
            vmax = np.full(n, _symmetric_limit(rel))
        else:
            vmax = np.full(n, scale)

        images = []
        for i in range(n):
            a = axes[i]
            m = float(vmax[i])
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

        colorbars = []
        if colorbar:
            if per_panel:
                groups = [(images[i], [axes[i]], float(vmax[i])) for i in range(n)]
                defaults = {"fraction": 0.046, "pad": 0.04}
            else:
                groups = [(images[0], list(axes[:n]), float(vmax[0]))]
                defaults = {"shrink": 0.8, "label": "relevance"}
            clipped = not per_panel and bool(np.abs(rel).max() > vmax[0]) if rel.size else False
            for im, owners, m in groups:
                kw = {"ticks": [-m, 0.0, m], "format": "{x:.2g}", "extend": "both" if clipped else "neither"}
                kw.update(defaults)
                kw.update(colorbar_kw or {})
                cb = fig.colorbar(im, ax=owners if len(owners) > 1 else owners[0], **kw)
                cb.ax.tick_params(labelsize="x-small" if per_panel else "small")
                colorbars.append(cb)
        self.colorbars_ = colorbars
        self.colorbar_ = colorbars[-1] if colorbars else None
        self.vmax_ = vmax
        self.ax_ = axes[:n]
        self.figure_ = fig
        self.images_ = images
        return self
