"""Relevance-weighted document vectors and word-embedding loading."""

from ._document import RelevanceDocumentVectorizer
from ._embeddings import WordEmbeddings, embedding_matrix, load_embeddings, train_word2vec

__all__ = ["RelevanceDocumentVectorizer", "WordEmbeddings", "embedding_matrix", "load_embeddings", "train_word2vec"]
