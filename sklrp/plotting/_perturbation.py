"""Perturbation (pixel-flipping) curves of several explanation methods."""

import numpy as np
from sklearn.utils._optional_dependencies import check_matplotlib_support

from .._backend import to_host

__all__ = ["PerturbationCurveDisplay"]


def _as_curve(name, value):
    """Normalise a curve given as a perturbation_curve result or an array."""
    if hasattr(value, "curve"):
        curve = np.asarray(value.curve, dtype=np.float64)
        frac = getattr(value, "fraction_perturbed", None)
        aopc = getattr(value, "aopc", None)
    else:
        curve = np.asarray(to_host(value), dtype=np.float64)
        frac, aopc = None, None
    if curve.ndim != 1 or curve.size < 2:
        raise ValueError(
            f"The curve of {name!r} must be 1-D with at least 2 points (unperturbed and one step); got shape "
            f"{curve.shape}."
        )
    if aopc is None:
        aopc = float(np.mean(curve[0] - curve[1:]))
    return curve, (None if frac is None else np.asarray(frac, dtype=np.float64)), float(aopc)


class PerturbationCurveDisplay:
    """Perturbation curves of several explanations, with their AOPC.

    One line per method: the mean score of the target class after
    ``0, 1, ..., L`` perturbation steps (see
    :func:`sklrp.metrics.perturbation_curve`).  The legend gives each
    method's AOPC.  Create it with :meth:`from_estimator` or
    :meth:`from_curves`; both call :meth:`plot`.

    Parameters
    ----------
    curves : dict of str to ndarray of shape (L + 1,)
        Mean curve per method.
    aopc : dict of str to float
        AOPC per method.
    fraction_perturbed : dict of str to ndarray or None, default=None
        Fraction of patches perturbed after each step, per method (for the
        x-axis).
    score_label : str, default="score of the target class"
        Label of the y-axis.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    lines_ : dict of str to matplotlib Line2D
    results_ : dict
        The :func:`~sklrp.metrics.perturbation_curve` results (only with
        :meth:`from_estimator`, or :meth:`from_curves` given results).

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.plotting import PerturbationCurveDisplay
    >>> curves = {"a": np.array([3.0, 2.0, 1.0]), "b": np.array([3.0, 2.5, 2.0])}
    >>> disp = PerturbationCurveDisplay.from_curves(curves)  # doctest: +SKIP
    """

    def __init__(self, curves, aopc, *, fraction_perturbed=None, score_label="score of the target class"):
        self.curves = curves
        self.aopc = aopc
        self.fraction_perturbed = fraction_perturbed
        self.score_label = score_label

    @classmethod
    def from_curves(cls, curves, *, ax=None, x_axis="step", score_label="score of the target class", **kwargs):
        """Plot precomputed curves.

        Parameters
        ----------
        curves : dict of str to Bunch or array
            Per method, a result of :func:`sklrp.metrics.perturbation_curve`
            or a mean curve of shape (L + 1,).  For a plain array the AOPC
            is ``mean(curve[0] - curve[1:])`` (the default normalisation of
            :func:`~sklrp.metrics.aopc_score`).
        ax : matplotlib Axes, default=None
        x_axis : {"step", "fraction"}, default="step"
            See :meth:`plot`.
        score_label : str, default="score of the target class"
        **kwargs
            Passed to ``Axes.plot`` for every line.

        Returns
        -------
        display : PerturbationCurveDisplay
        """
        if not isinstance(curves, dict) or not curves:
            raise ValueError("curves must be a non-empty dict mapping a method name to a curve or result.")
        mean, aopc, frac = {}, {}, {}
        for name, value in curves.items():
            mean[name], frac[name], aopc[name] = _as_curve(name, value)
        disp = cls(mean, aopc, fraction_perturbed=frac, score_label=score_label)
        disp.results_ = {k: v for k, v in curves.items() if hasattr(v, "curve")}
        return disp.plot(ax=ax, x_axis=x_axis, **kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        methods,
        *,
        target=None,
        random_baseline=True,
        ax=None,
        x_axis="step",
        plot_kwargs=None,
        **curve_kwargs,
    ):
        """Explain ``X`` with several methods and plot their perturbation curves.

        Parameters
        ----------
        estimator : fitted explainable estimator or Pipeline
        X : array of shape (n_samples, n_features)
        methods : dict of str to str or array
            Per curve label, either an explanation method name passed to
            :func:`sklrp.explain` (``"lrp"``, ``"sensitivity"``,
            ``"gradient_x_input"``, ...) or a relevance array already
            computed (e.g. LRP with a particular composite).
        target : None, label or labels, default=None
            Explained and tracked class; ``None`` is the predicted class.
        random_baseline : bool, default=True
            Add a ``"random"`` curve (random perturbation order).
        ax : matplotlib Axes, default=None
        x_axis : {"step", "fraction"}, default="step"
        plot_kwargs : dict, default=None
            Passed to ``Axes.plot`` for every line.
        **curve_kwargs
            Passed to :func:`sklrp.metrics.perturbation_curve`
            (``patch_size``, ``n_steps``, ``replacement``, ``score``,
            ``random_state``, ...).

        Returns
        -------
        display : PerturbationCurveDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        from ..base import explain
        from ..metrics import perturbation_curve

        if not isinstance(methods, dict) or not methods:
            raise ValueError("methods must be a non-empty dict mapping a label to a method name or relevance array.")
        results = {}
        for name, m in methods.items():
            R = explain(estimator, X, target=target, method=m) if isinstance(m, str) else m
            results[name] = perturbation_curve(estimator, X, R, target=target, **curve_kwargs)
        if random_baseline:
            kw = dict(curve_kwargs)
            kw["order"] = "random"
            results["random"] = perturbation_curve(estimator, X, None, target=target, **kw)
        score = curve_kwargs.get("score", "decision")
        label = "probability of the target class" if score == "proba" else "score of the target class"
        return cls.from_curves(results, ax=ax, x_axis=x_axis, score_label=label, **(plot_kwargs or {}))

    def plot(self, ax=None, *, x_axis="step", **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            ``None`` creates a new figure.
        x_axis : {"step", "fraction"}, default="step"
            Perturbation step ``k`` or the fraction of patches perturbed.
        **kwargs
            Passed to ``Axes.plot`` for every line.

        Returns
        -------
        self : PerturbationCurveDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if x_axis not in ("step", "fraction"):
            raise ValueError(f"x_axis must be 'step' or 'fraction'; got {x_axis!r}.")
        if ax is None:
            fig, ax = plt.subplots(figsize=(5, 3.5))
        self.lines_ = {}
        for name, curve in self.curves.items():
            frac = (self.fraction_perturbed or {}).get(name)
            if x_axis == "fraction":
                if frac is None:
                    raise ValueError(f"x_axis='fraction' needs the fraction perturbed, which {name!r} lacks.")
                x = frac
            else:
                x = np.arange(curve.size)
            style = {"linestyle": "--", "color": "0.4"} if name == "random" else {}
            style.update(kwargs)
            (line,) = ax.plot(x, curve, label=f"{name} (AOPC = {self.aopc[name]:.3f})", **style)
            self.lines_[name] = line
        ax.set_xlabel("perturbation step" if x_axis == "step" else "fraction of patches perturbed")
        ax.set_ylabel(self.score_label)
        ax.legend(fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
