"""Published experiments that ``sklrp reproduce NAME`` runs.

Each entry of :data:`EXPERIMENTS` has ``add_arguments(parser)`` and
``run(args)``; the experiments print one JSON object per line.
"""

from . import _eeg, _sst_lstm, _text_cnn

__all__ = ["EXPERIMENTS"]

#: name -> (module with add_arguments / run, one-line description)
EXPERIMENTS = {
    "text-cnn": (_text_cnn, "word CNN vs bag-of-words SVM on 20 Newsgroups (Arras et al. 2016/2017)"),
    "sst-lstm": (_sst_lstm, "bi-LSTM on SST-5, LRP vs SA by word deletion (Arras et al. 2017)"),
    "eeg": (_eeg, "single-trial EEG DNN vs CSP+LDA, transfer, relevance localisation (Sturm et al. 2016)"),
}
