"""The ``sklrp`` command line: ``sklrp demo`` and ``sklrp reproduce NAME``.

``sklrp demo`` trains a small convolutional network on scikit-learn's bundled
digits (no download), explains test digits with LRP, sensitivity analysis and
gradient x input, writes a PNG of heatmaps and a PNG of pixel-flipping curves,
and prints the test accuracy and each method's AOPC.
"""

import argparse
import os
import sys
import time
import warnings

__all__ = ["main", "run_demo"]

#: LRP composite used by the demo.  Chosen after comparing the presets' AOPC
#: on this demo's network and perturbation settings (see
#: ``examples/plot_rule_comparison.py``); epsilon_gamma_box scored highest there.
DEMO_COMPOSITE = "epsilon_gamma_box"

#: Pixel-flipping settings of the demo (the library defaults, except n_steps).
DEMO_CURVE = {"patch_size": 1, "n_steps": 16, "replacement": "uniform", "score": "decision"}


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "sklrp demo writes PNG figures and needs matplotlib; install it with `pip install matplotlib` (or `pip install '.[plot]'` in a checkout of sklrp)."
        ) from exc


def run_demo(output="sklrp_demo_output", quick=False, n_heatmaps=None, stream=None):
    """Run the digits demo.

    Parameters
    ----------
    output : str or path-like, default="sklrp_demo_output"
        Folder for ``heatmaps.png`` and ``perturbation_curves.png``
        (created if missing).
    quick : bool, default=False
        Fewer training epochs and fewer test digits in the perturbation
        curves (a smoke test; the numbers are less stable).
    n_heatmaps : int, default=None
        Digits shown in the heatmap grid; ``None`` shows 8 (4 with
        ``quick``).
    stream : file-like, default=None
        Where the report is printed; ``None`` is ``sys.stdout``.

    Returns
    -------
    summary : dict
        ``accuracy``, ``aopc`` (method -> float), ``files`` (paths written)
        and ``seconds``.
    """
    _require_matplotlib()
    os.makedirs(output, exist_ok=True)  # before the work: an unwritable folder fails at once
    from matplotlib.figure import Figure
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split

    from .estimators import ConvNetClassifier
    from .metrics import perturbation_curve
    from .plotting import PerturbationCurveDisplay, RelevanceHeatmapDisplay

    out = stream if stream is not None else sys.stdout
    t0 = time.perf_counter()

    def say(msg):
        print(msg, file=out, flush=True)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    max_iter = 5 if quick else 12
    say(
        f"sklrp demo: ConvNetClassifier on scikit-learn's digits ({len(y_train)} train / {len(y_test)} test, "
        f"8x8 pixels in [0, 1]){' [quick]' if quick else ''}"
    )
    net = ConvNetClassifier(
        input_shape=(1, 8, 8),
        filters=(16, 32),
        hidden_layer_sizes=(64,),
        learning_rate_init=3e-3,
        batch_size=64,
        max_iter=max_iter,
        composite=DEMO_COMPOSITE,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.fit(X_train, y_train)
    acc = float(net.score(X_test, y_test))
    say(f"test accuracy: {acc:.4f} ({net.n_iter_} epochs, {time.perf_counter() - t0:.1f} s)")

    # --- explanations of the predicted class
    n_eval = 100 if quick else len(y_test)
    X_eval = X_test[:n_eval]
    methods = {
        f"LRP ({DEMO_COMPOSITE})": "lrp",
        "sensitivity": "sensitivity",
        "gradient x input": "gradient_x_input",
    }
    relevance = {name: net.explain(X_eval, method=m) for name, m in methods.items()}

    # --- pixel flipping
    curves = {
        name: perturbation_curve(net, X_eval, R, random_state=0, **DEMO_CURVE) for name, R in relevance.items()
    }
    curves["random"] = perturbation_curve(net, X_eval, None, order="random", n_repeats=3, random_state=0, **DEMO_CURVE)
    say(
        f"pixel flipping on {n_eval} test digits: most relevant pixel first, {DEMO_CURVE['n_steps']} steps of one "
        f"pixel, replaced by uniform noise in [0, 1]; AOPC = mean drop of the raw class score (higher is better)"
    )
    for name, res in curves.items():
        label = "random order (3 repeats)" if name == "random" else name
        say(f"  AOPC {label}: {res.aopc:.4f}")

    # --- figures
    n_show = n_heatmaps if n_heatmaps is not None else (4 if quick else 8)
    n_show = max(1, min(int(n_show), n_eval))
    pred = net.predict(X_eval[:n_show])
    # one colour scale per method (shared by its digits, bar below its column): within a column colours compare
    # the digits' relevance; between columns the bars' limits compare the magnitudes (sensitivity is a squared
    # gradient, in other units than LRP and gradient x input, so one scale for all would wash some out)
    fig = Figure(figsize=(1.5 * (len(methods) + 1) + 0.3, 1.5 * n_show + 1.0), layout="constrained")
    axes = fig.subplots(n_show, len(methods) + 1, squeeze=False)
    for i in range(n_show):
        ax = axes[i, 0]
        ax.imshow(X_eval[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"pred {pred[i]}", fontsize="small")
    axes[0, 0].set_title("input", fontsize="small")
    for j, (name, R) in enumerate(relevance.items(), start=1):
        RelevanceHeatmapDisplay.from_relevance(
            R[:n_show], input_shape=(1, 8, 8), ax=axes[:, j], scale="shared",
            colorbar_kw={"location": "bottom", "shrink": 0.9, "aspect": 12, "label": None},
        )
        axes[0, j].set_title(name, fontsize="small")
    fig.suptitle(
        "Relevance for the predicted digit (red: for, blue: against)\n"
        "one colour scale per method, shown below its column",
        fontsize="medium",
    )
    heat_path = os.path.join(output, "heatmaps.png")
    fig.savefig(heat_path, dpi=100)

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    PerturbationCurveDisplay.from_curves(curves, ax=ax)
    ax.set_title(f"Pixel flipping (MoRF) on {n_eval} digits")
    curve_path = os.path.join(output, "perturbation_curves.png")
    fig.savefig(curve_path, dpi=100)
    say(f"wrote {heat_path}")
    say(f"wrote {curve_path}")
    seconds = time.perf_counter() - t0
    say(f"done in {seconds:.1f} s")
    return {
        "accuracy": acc,
        "aopc": {name: res.aopc for name, res in curves.items()},
        "files": [heat_path, curve_path],
        "seconds": seconds,
    }


def _build_parser():
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="sklrp", description="Layer-wise Relevance Propagation for scikit-learn estimators."
    )
    parser.add_argument("--version", action="version", version=f"sklrp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="train a ConvNet on the bundled digits, explain it, write heatmaps and pixel-flipping curves",
        description=(
            "Train a ConvNetClassifier on scikit-learn's bundled digits, explain test digits with LRP, "
            "sensitivity and gradient x input, write heatmaps.png and perturbation_curves.png, and print "
            "the test accuracy and each method's AOPC."
        ),
    )
    from .experiments import EXPERIMENTS
    from .experiments._common import output_folder, positive_int

    demo.add_argument(
        "--output", "-o", default="sklrp_demo_output", type=output_folder,
        help="output folder (default: ./sklrp_demo_output)",
    )
    demo.add_argument("--quick", action="store_true", help="fewer epochs and test digits (a smoke test)")
    demo.add_argument("--n-heatmaps", type=positive_int, default=None, help="digits in the heatmap grid")

    from .experiments import build_parser as build_experiment_parser

    rep = sub.add_parser(
        "reproduce", help="reproduce a published experiment (JSON lines, figures)",
        description=(
            "Reproduce a published experiment: its JSON lines go to stdout and to OUTPUT/results.jsonl, its "
            "figures (PNG) into OUTPUT (--output/-o, default ./sklrp_reproduce_output/NAME), a progress bar to "
            "stderr (off with --quiet); a last 'summary' line lists the files written.  "
            "`sklrp reproduce NAME --help` lists an experiment's options."
        ),
    )
    names = rep.add_subparsers(dest="name", metavar="NAME", required=True)
    for name, (module, description) in EXPERIMENTS.items():
        build_experiment_parser(name, names.add_parser(name, help=description, description=description))
    return parser


def main(argv=None):
    """Entry point of the ``sklrp`` command.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns
    -------
    status : int
        The exit status (0 on success).
    """
    parser = _build_parser()
    args = parser.parse_args(argv)  # usage errors: one line on stderr, SystemExit(2)
    if args.command is None:
        parser.print_help()
        return 0
    prog = f"sklrp {args.command}" + (f" {args.name}" if args.command == "reproduce" else "")
    try:
        if args.command == "demo":
            run_demo(args.output, quick=args.quick, n_heatmaps=args.n_heatmaps)
        else:
            from .experiments import reproduce

            reproduce(args.name, args)
    except (ValueError, OSError, ImportError) as exc:
        # a user's error (missing data, an unwritable folder, a missing optional dependency): one line, as
        # argparse reports usage errors; SKLRP_TRACEBACK=1 shows the traceback
        if os.environ.get("SKLRP_TRACEBACK"):
            raise
        parser.exit(2, f"{prog}: error: {_one_line(exc)}\n")
    return 0


def _one_line(exc):
    """The message of ``exc`` on one line (OSError: 'strerror: filename')."""
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
