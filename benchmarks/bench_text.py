"""Speed of text explanations on 20 Newsgroups (JSON lines, ratios not absolute times).

1. Relevance for all 7,532 test documents (``sklrp.explain`` on the Pipeline,
   vectorisation included) against the Pipeline's ``decision_function`` on the
   same documents (target: ratio <= 2).
2. Token mapping plus HTML (``token_relevances`` + ``highlight_html``) for
   1,000 documents (target: < 5 s).
3. eli5's ``explain_prediction`` (+ ``format_as_html``) side by side with
   sklrp's ``token_relevances`` (+ ``highlight_html``) on the first
   ``--n-eli5`` test documents (default 100: eli5 rebuilds the 130k feature
   names for every document and takes about a second per document here),
   when eli5 is installed (skipped cleanly otherwise).

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_text.py
"""

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

import sklrp
from sklrp import LinearRelevanceClassifier
from sklrp.datasets import load_20newsgroups
from sklrp.text import highlight_html, token_relevances

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DH = os.path.join(ROOT, "..", "shared", "data", "20newsgroups", "sklearn_data_home")


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def emit(**kw):
    print(json.dumps(kw), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-home", default=os.environ.get("SCIKIT_LEARN_DATA", DEFAULT_DH))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-html", type=int, default=1000)
    ap.add_argument("--n-eli5", type=int, default=100,
                    help="documents for the eli5 comparison (eli5 takes ~1 s per document)")
    ap.add_argument("--skip-main", action="store_true", help="only the eli5 comparison")
    args = ap.parse_args()
    train = load_20newsgroups("train", data_home=args.data_home)
    test = load_20newsgroups("test", data_home=args.data_home)
    pipe = make_pipeline(TfidfVectorizer(), LinearRelevanceClassifier(LinearSVC()))
    pipe.fit(train.data, train.target)
    docs = test.data
    emit(bench="setup", n_test=len(docs), python=platform.python_version(),
         sklearn=sklearn.__version__, cpu_count=os.cpu_count())

    if not args.skip_main:
        run_main(pipe, docs, args)
    run_eli5(pipe, docs[:args.n_eli5], args)


def run_main(pipe, docs, args):
    t_df, _ = best_of(lambda: pipe.decision_function(docs), args.repeats)
    t_rel, R = best_of(lambda: sklrp.explain(pipe, docs), args.repeats)
    Xt = pipe[0].transform(docs)
    t_vec, _ = best_of(lambda: pipe[0].transform(docs), args.repeats)
    t_df_final, _ = best_of(lambda: pipe[-1].decision_function(Xt), args.repeats)
    t_rel_final, _ = best_of(lambda: pipe[-1].explain(Xt), args.repeats)
    emit(bench="relevance_vs_decision_function", n_docs=len(docs),
         decision_function_s=round(t_df, 4), explain_s=round(t_rel, 4),
         ratio=round(t_rel / t_df, 3), target_ratio_max=2.0,
         vectorize_s=round(t_vec, 4),
         final_step_only=dict(decision_function_s=round(t_df_final, 4),
                              explain_s=round(t_rel_final, 4),
                              ratio=round(t_rel_final / t_df_final, 3)))

    sub = docs[:args.n_html]

    def sklrp_html():
        words = token_relevances(pipe, sub)
        return [highlight_html(w) for w in words]

    t_html, pages = best_of(sklrp_html, args.repeats)
    emit(bench="token_mapping_and_html", n_docs=len(sub), seconds=round(t_html, 3),
         target_seconds_max=5.0, mean_html_kb=round(np.mean([len(p) for p in pages]) / 1024, 1))


def run_eli5(pipe, sub, args):
    def sklrp_html():
        words = token_relevances(pipe, sub)
        return [highlight_html(w) for w in words]

    try:
        import eli5
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        emit(bench="eli5", skipped=f"eli5 not importable: {type(exc).__name__}: {exc}")
        return
    vec, svc = pipe[0], pipe[-1].estimator_

    def eli5_html():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [eli5.format_as_html(eli5.explain_prediction(svc, d, vec=vec)) for d in sub]

    def eli5_explain_only():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [eli5.explain_prediction(svc, d, vec=vec) for d in sub]

    try:
        t_eli5, _ = best_of(eli5_html, 1)
        t_eli5_expl, _ = best_of(eli5_explain_only, 1)
    except Exception as exc:  # noqa: BLE001
        emit(bench="eli5", skipped=f"eli5 failed: {type(exc).__name__}: {exc}")
        return
    t_html, _ = best_of(sklrp_html, args.repeats)
    t_tok, _ = best_of(lambda: token_relevances(pipe, sub), args.repeats)
    emit(bench="eli5_side_by_side", n_docs=len(sub), eli5_version=eli5.__version__,
         eli5_explain_plus_html_s=round(t_eli5, 3), sklrp_tokens_plus_html_s=round(t_html, 3),
         speedup_html=round(t_eli5 / t_html, 2),
         eli5_explain_prediction_s=round(t_eli5_expl, 3), sklrp_token_relevances_s=round(t_tok, 3),
         speedup_explain=round(t_eli5_expl / t_tok, 2))


if __name__ == "__main__":
    main()
