"""Relevance-weighted document vectors and word-embedding loading."""

from ._document import RelevanceDocumentVectorizer
from ._embeddings import WordEmbeddings, load_embeddings, train_word2vec

__all__ = ["RelevanceDocumentVectorizer", "WordEmbeddings", "load_embeddings", "train_word2vec"]
