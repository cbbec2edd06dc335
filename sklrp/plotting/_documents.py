"""2-D PCA of document vectors, coloured by class (Arras et al. 2016)."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils._optional_dependencies import check_matplotlib_support

from .._backend import to_host
from .._validation import check_documents

__all__ = ["DocumentVectorsDisplay"]


class DocumentVectorsDisplay:
    """Document vectors projected on their first two principal components.

    One point per document, one colour per class: the PCA figure of Arras
    et al. (RepL4NLP @ ACL 2016), where relevance-weighted sums of word
    embeddings (:class:`~sklrp.feature_extraction.RelevanceDocumentVectorizer`)
    form topic clusters that uniformly weighted sums do not.  Create it with
    :meth:`from_estimator` (bag-of-words or sequence text Pipelines) or
    :meth:`from_vectors`; both call :meth:`plot`.

    Parameters
    ----------
    points : ndarray of shape (n_documents, 2)
        The projected documents.
    y : ndarray of shape (n_documents,)
        Class of each document (the colours).
    explained_variance_ratio : ndarray of shape (2,) or None, default=None
        Share of the variance along each axis (shown in the axis labels).
    class_names : dict or None, default=None
        Legend label of each class (``str(class)`` when absent).

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    scatters_ : dict of class to matplotlib PathCollection
        The points of each class, in the order of ``np.unique(y)``.
    pca_ : sklearn.decomposition.PCA
        The fitted projection (only with :meth:`from_vectors` and
        :meth:`from_estimator`).
    vectors_ : ndarray of shape (n_documents, dim)
        The document vectors before projection (idem).

    References
    ----------
    .. [1] L. Arras, F. Horn, G. Montavon, K.-R. Mueller, W. Samek,
       "Explaining predictions of non-linear classifiers in NLP",
       Workshop on Representation Learning for NLP, ACL 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from sklrp.plotting import DocumentVectorsDisplay
    >>> V = np.random.default_rng(0).normal(size=(20, 5))
    >>> disp = DocumentVectorsDisplay.from_vectors(V, np.arange(20) % 2)  # doctest: +SKIP
    """

    def __init__(self, points, y, *, explained_variance_ratio=None, class_names=None):
        self.points = points
        self.y = y
        self.explained_variance_ratio = explained_variance_ratio
        self.class_names = class_names

    @classmethod
    def from_vectors(cls, vectors, y, *, class_names=None, ax=None, **kwargs):
        """Project document vectors with PCA and plot them by class.

        Parameters
        ----------
        vectors : array-like or sparse matrix of shape (n_documents, dim)
            Document vectors (e.g. from
            :class:`~sklrp.feature_extraction.RelevanceDocumentVectorizer`).
        y : array-like of shape (n_documents,)
            Class of each document.
        class_names : dict or sequence of str, default=None
            Legend labels: a dict from class to name, or one name per class
            in the order of ``np.unique(y)`` (e.g. ``target_names`` of
            20 Newsgroups with integer targets).
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to ``Axes.scatter`` for every class.

        Returns
        -------
        display : DocumentVectorsDisplay

        Raises
        ------
        ValueError
            For fewer than 2 documents, non-finite vectors, or ``y`` /
            ``class_names`` of the wrong length.
        """
        check_matplotlib_support(f"{cls.__name__}.from_vectors")
        from sklearn.decomposition import PCA

        V = vectors.toarray() if sp.issparse(vectors) else to_host(vectors)
        V = np.asarray(V, dtype=np.float64)
        y = np.asarray(y)
        if V.ndim != 2 or V.shape[0] < 2:
            raise ValueError(
                f"vectors must be a 2-D array of shape (n_documents, dim) with at least 2 documents; "
                f"got shape {V.shape}."
            )
        if not np.all(np.isfinite(V)):
            raise ValueError("vectors contain NaN or infinity.")
        if y.ndim != 1 or y.shape[0] != V.shape[0]:
            raise ValueError(f"y must hold one label per document ({V.shape[0]}); got shape {y.shape}.")
        classes = np.unique(y)
        if class_names is not None and not isinstance(class_names, dict):
            class_names = list(class_names)
            if len(class_names) != classes.size:
                raise ValueError(
                    f"class_names must be a dict or hold one name per class ({classes.size}); "
                    f"got {len(class_names)}."
                )
            class_names = dict(zip(classes.tolist(), class_names))
        n_comp = min(2, V.shape[0], V.shape[1])
        pca = PCA(n_components=n_comp).fit(V)
        points = np.zeros((V.shape[0], 2))
        points[:, :n_comp] = pca.transform(V)
        ratio = np.zeros(2)
        ratio[:n_comp] = pca.explained_variance_ratio_
        disp = cls(points, y, explained_variance_ratio=ratio, class_names=class_names)
        disp.pca_ = pca
        disp.vectors_ = V
        return disp.plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        embeddings,
        weighting="lrp",
        target="predicted",
        normalize="l2",
        vectorizer=None,
        class_names=None,
        ax=None,
        **kwargs,
    ):
        """Build document vectors of a text Pipeline and plot their PCA by class.

        The vectors are those of
        :class:`~sklrp.feature_extraction.RelevanceDocumentVectorizer`
        (``weighting``, ``normalize`` and ``vectorizer`` are its
        parameters), so bag-of-words and sequence Pipelines are accepted.

        Parameters
        ----------
        estimator : Pipeline
            Fitted text Pipeline with an explainable last step.
        X : iterable of str
            Raw documents.
        y : array-like of shape (n_documents,)
            Class of each document (the colours, e.g. the true topics).
        embeddings : dict, gensim KeyedVectors, WordEmbeddings or path
            Word vectors.
        weighting : {"lrp", "sa", "tfidf", "uniform"}, default="lrp"
            Word weights of the document vectors.
        target : {"predicted", "true"}, default="predicted"
            Class explained for ``"lrp"`` / ``"sa"`` weights: the predicted
            class or ``y`` (as in :func:`sklrp.metrics.explanatory_power_score`).
        normalize : {"l2", "l1"} or None, default="l2"
            Row normalisation of the vectors before the PCA.
        vectorizer : fitted vectorizer, default=None
            See :class:`~sklrp.feature_extraction.RelevanceDocumentVectorizer`.
        class_names : dict or sequence of str, default=None
            See :meth:`from_vectors`.
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to ``Axes.scatter`` for every class.

        Returns
        -------
        display : DocumentVectorsDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        from ..feature_extraction import RelevanceDocumentVectorizer

        if target not in ("predicted", "true"):
            raise ValueError(f"target must be 'predicted' or 'true'; got {target!r}.")
        docs = check_documents(X, "X")
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != len(docs):
            raise ValueError(f"y must hold one label per document ({len(docs)}); got shape {y.shape}.")
        vec = RelevanceDocumentVectorizer(estimator, embeddings, weighting=weighting, normalize=normalize,
                                          vectorizer=vectorizer)
        V = vec.transform(docs, target=y if target == "true" else None)
        return cls.from_vectors(V, y, class_names=class_names, ax=ax, **kwargs)

    def plot(self, ax=None, **kwargs):
        """Draw the documents, one colour per class, with a legend.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            ``None`` creates a new figure.
        **kwargs
            Passed to ``Axes.scatter`` for every class (e.g. ``s=4``).

        Returns
        -------
        self : DocumentVectorsDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4.5))
        points, y = np.asarray(self.points), np.asarray(self.y)
        names = self.class_names or {}
        style = {"s": 12}
        style.update(kwargs)
        self.scatters_ = {}
        for c in np.unique(y):
            c = c.item() if hasattr(c, "item") else c
            sel = y == c
            self.scatters_[c] = ax.scatter(points[sel, 0], points[sel, 1], label=str(names.get(c, c)), **style)
        ratio = self.explained_variance_ratio
        for k, set_label in enumerate((ax.set_xlabel, ax.set_ylabel)):
            share = "" if ratio is None else f" ({100 * ratio[k]:.1f} % of the variance)"
            set_label(f"principal component {k + 1}{share}")
        ax.legend(fontsize="small", markerscale=1.5)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
