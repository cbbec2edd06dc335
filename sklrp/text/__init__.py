"""Text: feature relevances back to tokens, highlighting, top words per class."""

from ._highlight import highlight_ansi, highlight_html, relevance_color
from ._sequence import TokenSequenceVectorizer, TokenSpan
from ._tokens import TokenRelevances, token_relevances
from ._topwords import top_words_per_class
from ._vocab import TextFeatureMap, text_feature_map

__all__ = [
    "token_relevances",
    "TokenRelevances",
    "highlight_html",
    "highlight_ansi",
    "relevance_color",
    "top_words_per_class",
    "text_feature_map",
    "TextFeatureMap",
    "TokenSequenceVectorizer",
    "TokenSpan",
]
