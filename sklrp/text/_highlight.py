"""Render token relevances as self-contained HTML or ANSI terminal text."""

import html
import numbers
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["TokenRelevances", "highlight_html", "highlight_ansi", "relevance_color"]


@dataclass
class TokenRelevances:
    """Relevance of every token occurrence of one document.

    Attributes
    ----------
    text : str
        The document as the vectorizer read it (after ``decode``).
    tokens : list of str
        Tokens in order of occurrence, as the vectorizer's tokenizer returns
        them (after its preprocessor, e.g. lower-cased). Stop words and
        out-of-vocabulary tokens are included, with relevance 0.
    spans : list of (int, int) or None
        Character span ``text[start:end]`` of each token; ``None`` when a
        custom tokenizer or preprocessor produced a token that could not be
        located in the text.
    relevance : ndarray of shape (n_tokens,)
        Relevance of each occurrence (see :func:`token_relevances`).
    known : ndarray of bool, shape (n_tokens,)
        Whether the token takes part in at least one feature of the model.
    label : object or None
        The class whose score is explained (``None`` for an explicit
        output-relevance target).
    """

    text: str
    tokens: list
    spans: list
    relevance: np.ndarray
    known: np.ndarray
    label: object = None
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.tokens)

    def total(self):
        """Sum of the token relevances."""
        return float(np.sum(self.relevance))

    def _repr_html_(self):
        return highlight_html(self, full_page=False)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _real(x, name):
    """``x`` as a float, or a TypeError naming the argument (strings, None, complex numbers, arrays)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Real, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number; got {type(x).__name__}: {x!r:.40}.")
    try:
        return float(x)
    except OverflowError:  # a Python int beyond the float range: the largest float of its sign
        return float(np.sign(x)) * float(np.finfo(np.float64).max)


def relevance_color(value, vmax):
    """RGB colour of a relevance on a diverging scale centred at 0.

    White at 0, saturating to red (``+vmax``, evidence for the class) or blue
    (``-vmax``, evidence against), the convention of the LRP literature
    (Montavon, Samek, Mueller, DSP 2018).

    Parameters
    ----------
    value : float
        Relevance.
    vmax : float
        Relevance of full saturation (> 0, finite); values beyond are
        clipped.  A non-finite ``value`` is shown white.

    Returns
    -------
    (int, int, int)

    Raises
    ------
    ValueError
        If ``vmax`` is not a positive finite number.
    TypeError
        If ``value`` or ``vmax`` is not a real number.
    """
    vmax = _real(vmax, "vmax")
    if not (vmax > 0 and np.isfinite(vmax)):
        raise ValueError(f"vmax must be a positive finite number; got {vmax}.")
    value = _real(value, "value")
    a = float(np.clip(value / vmax, -1.0, 1.0)) if np.isfinite(value) else 0.0
    fade = int(round(255 * (1.0 - abs(a))))
    return (255, fade, fade) if a >= 0 else (fade, fade, 255)


def _as_list(words):
    if isinstance(words, TokenRelevances):
        return [words]
    words = list(words)
    if not all(isinstance(w, TokenRelevances) for w in words):
        raise TypeError(
            "highlight expects a TokenRelevances (from sklrp.text.token_relevances) or a list of them."
        )
    return words


def _vmax(docs, vmax):
    if vmax is not None:
        vmax = float(vmax)
        if not vmax > 0 or not np.isfinite(vmax):
            raise ValueError(f"vmax must be a positive finite number; got {vmax}.")
        return vmax
    finite = [np.abs(r[np.isfinite(r)]) for r in (np.asarray(d.relevance, dtype=float) for d in docs)]
    m = max((float(f.max()) for f in finite if f.size), default=0.0)
    return m if m > 0 else 1.0


def _segments(doc):
    """(text, relevance or None) pieces covering doc.text in order."""
    order = sorted((s[0], s[1], k) for k, s in enumerate(doc.spans) if s is not None)
    pos, pieces = 0, []
    for s, e, k in order:
        if s < pos:  # overlapping spans (custom tokenizers): skip the later one
            continue
        if s > pos:
            pieces.append((doc.text[pos:s], None, None))
        pieces.append((doc.text[s:e], float(doc.relevance[k]), k))
        pos = e
    if pos < len(doc.text):
        pieces.append((doc.text[pos:], None, None))
    return pieces


_STYLE = (
    ".sklrp-doc{font-family:sans-serif;white-space:pre-wrap;line-height:1.6;"
    "border:1px solid #ccc;padding:6px;margin:6px 0}"
    ".sklrp-doc span.t{border-radius:2px}"
    ".sklrp-legend{font-family:sans-serif;font-size:small;display:flex;align-items:center;gap:6px}"
    ".sklrp-bar{width:200px;height:12px;border:1px solid #999;"
    "background:linear-gradient(to right,rgb(0,0,255),rgb(255,255,255),rgb(255,0,0))}"
    ".sklrp-head{font-family:sans-serif;font-size:small;color:#333}"
)


def highlight_html(words, *, vmax=None, legend=True, title=None, full_page=True, precision=3):
    """Highlight token relevances as self-contained HTML.

    Every token is drawn on a background colour from a diverging scale
    centred at 0 (red: positive relevance, evidence for the explained class;
    blue: negative), with its value in a tooltip. All document text, labels
    and the title are HTML-escaped, so markup in a document (e.g.
    ``<script>``) is shown as text and never interpreted. The output uses
    inline CSS only: no scripts, fonts or network resources.

    Parameters
    ----------
    words : TokenRelevances or list of TokenRelevances
        From :func:`sklrp.text.token_relevances`.
    vmax : float, default=None
        Relevance of full colour saturation; ``None`` uses the largest
        absolute token relevance over all given documents (one shared scale).
    legend : bool, default=True
        Draw the colour scale with its range.
    title : str, default=None
        Heading (escaped).
    full_page : bool, default=True
        Return a complete ``<!DOCTYPE html>`` page; ``False`` returns a
        ``<div>`` fragment (for notebooks).
    precision : int, default=3
        Significant digits of the values in tooltips and the legend.

    Returns
    -------
    str
    """
    docs = _as_list(words)
    vmax = _vmax(docs, vmax)
    esc = html.escape
    fmt = f"{{:.{int(precision)}g}}"
    parts = [f"<div class=\"sklrp-highlight\"><style>{_STYLE}</style>"]
    if title is not None:
        parts.append(f"<h3 class=\"sklrp-head\">{esc(str(title))}</h3>")
    if legend:
        parts.append(
            "<div class=\"sklrp-legend\"><span>" + esc(fmt.format(-vmax)) + "</span>"
            "<span class=\"sklrp-bar\"></span><span>" + esc("+" + fmt.format(vmax)) + "</span>"
            "<span>relevance (red: for the class, blue: against)</span></div>"
        )
    for d in docs:
        head = []
        if d.label is not None:
            head.append("explained class: " + esc(str(d.label)))
        head.append("total relevance: " + esc(fmt.format(d.total())))
        parts.append("<div class=\"sklrp-head\">" + " &middot; ".join(head) + "</div>")
        body = []
        for text, r, k in _segments(d):
            if r is None:
                body.append(esc(text))
                continue
            rgb = relevance_color(r, vmax)
            body.append(
                f"<span class=\"t\" style=\"background-color:rgb{rgb}\" "
                f"title=\"{esc(d.tokens[k])}: {esc(fmt.format(r))}\">{esc(text)}</span>"
            )
        missing = [k for k, s in enumerate(d.spans) if s is None]
        if missing:
            body.append("\n[tokens not located in the text: ")
            for k in missing:
                rgb = relevance_color(d.relevance[k], vmax)
                body.append(
                    f"<span class=\"t\" style=\"background-color:rgb{rgb}\" "
                    f"title=\"{esc(fmt.format(d.relevance[k]))}\">{esc(d.tokens[k])}</span> "
                )
            body.append("]")
        parts.append("<div class=\"sklrp-doc\">" + "".join(body) + "</div>")
    parts.append("</div>")
    fragment = "".join(parts)
    if not full_page:
        return fragment
    head_title = esc(str(title)) if title is not None else "sklrp relevance"
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{head_title}</title></head><body>{fragment}</body></html>\n"
    )


def _safe_terminal(text):
    return _CONTROL.sub("\ufffd", text)


def highlight_ansi(words, *, vmax=None, color=True, legend=True):
    """Highlight token relevances for a terminal with ANSI 24-bit colours.

    Backgrounds follow the same diverging scale as :func:`highlight_html`;
    the foreground is black on coloured tokens. Control characters in the
    text (including ESC) are replaced by U+FFFD so that a document cannot
    send its own terminal escape sequences. With ``color=False`` tokens with
    non-zero relevance are marked ``[token|+0.12]`` instead.

    Parameters
    ----------
    words : TokenRelevances or list of TokenRelevances
    vmax : float, default=None
        Relevance of full saturation; ``None`` uses the largest absolute
        relevance over the given documents.
    color : bool, default=True
        Use ANSI colours; ``False`` gives plain text annotations.
    legend : bool, default=True
        Start with a one-line colour legend.

    Returns
    -------
    str
    """
    docs = _as_list(words)
    vmax = _vmax(docs, vmax)
    out = []
    if legend:
        if color:
            steps = np.linspace(-vmax, vmax, 9)
            bar = "".join(
                "\x1b[48;2;{};{};{}m  ".format(*relevance_color(v, vmax)) for v in steps
            )
            out.append(f"{-vmax:+.3g} {bar}\x1b[0m {vmax:+.3g}  (red: for, blue: against)\n")
        else:
            out.append(f"relevance scale: [{-vmax:+.3g}, {vmax:+.3g}]\n")
    for d in docs:
        if d.label is not None:
            out.append(f"class {_safe_terminal(str(d.label))}, total {d.total():+.3g}:\n")
        for text, r, _ in _segments(d):
            text = _safe_terminal(text)
            if r is None or (not color and r == 0):
                out.append(text)
            elif color:
                rgb = relevance_color(r, vmax)
                out.append("\x1b[38;2;0;0;0m\x1b[48;2;{};{};{}m".format(*rgb) + text + "\x1b[0m")
            else:
                out.append(f"[{text}|{r:+.2g}]")
        out.append("\n")
    return "".join(out)
