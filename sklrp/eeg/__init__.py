"""EEG with MNE: motor-imagery data, relevance as MNE objects, scalp maps, transfer.

- :func:`load_eegbci`: PhysioNet EEG Motor Movement/Imagery epochs through
  MNE, offline; :func:`simulate_motor_imagery`: trials with a known mu-band
  power drop (ground truth for explanations);
- :func:`relevance_to_evoked`: relevance ``(n_trials, n_channels, n_times)``
  as ``mne.EvokedArray`` / ``mne.EpochsArray`` (``plot_topomap``,
  ``plot_joint``, ``plot_image``; pass :data:`RELEVANCE_PLOT_KWARGS` so MNE
  does not scale relevance as volts); :func:`csp_relevance_correlation`:
  relevance topographies against CSP patterns;
- :class:`RelevanceTopomapDisplay`: class-average relevance scalp maps over
  time;
- :class:`EuclideanAlignment`: whiten a subject's trials by their mean
  covariance (a common space for transfer between subjects);
- :func:`transfer_fit`: pre-train on other subjects, fine-tune on one.

The classifier itself is :class:`sklrp.EEGDNNClassifier`.  MNE is imported
when a function needs it (``pip install 'mne>=1.6'``, or the ``eeg`` extra of a checkout: ``pip install '.[eeg]'``).
"""

from ._datasets import STAGED_SUBJECTS, load_eegbci, simulate_motor_imagery
from ._display import RelevanceTopomapDisplay
from ._evoked import RELEVANCE_PLOT_KWARGS, csp_relevance_correlation, relevance_to_evoked
from ._alignment import EuclideanAlignment
from ._transfer import transfer_fit

__all__ = [
    "STAGED_SUBJECTS",
    "load_eegbci",
    "simulate_motor_imagery",
    "relevance_to_evoked",
    "csp_relevance_correlation",
    "RELEVANCE_PLOT_KWARGS",
    "RelevanceTopomapDisplay",
    "transfer_fit",
    "EuclideanAlignment",
]
