"""Build sample_docs/vector-search.pdf reproducibly from text held in this module."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import fpdf

REPO_ROOT = Path(__file__).resolve().parent.parent
PDF_PATH = REPO_ROOT / "sample_docs" / "vector-search.pdf"
CREATION_DATE = datetime(2024, 1, 1, tzinfo=timezone(timedelta(0)))
TITLE = "Vector Databases and Nearest-Neighbour Search"

# Each section is (heading, text) and starts on a new page. Paragraphs are separated
# by blank lines; line breaks inside a paragraph are ignored. Plain ASCII only.
SECTIONS: tuple[tuple[str, str], ...] = (
    (
        "Vector Databases and Nearest-Neighbour Search",
        """
This document explains how vector databases store embeddings and how they find the
vectors closest to a query. It covers exact search, approximate search, the HNSW
graph index, how to measure the recall of an approximate index, and the FAISS
library.

A vector database is a system that stores vectors and finds the stored vectors that
are most similar to a query vector. The vectors are usually embeddings: lists of
numbers produced by a model so that items with similar meanings have similar
vectors.

A vector database stores three things for every item: the vector itself, an id, and
metadata. The id is a unique number or string that identifies the item. The metadata
is extra information such as the source file name, the page number, or the original
text of the chunk. The vector is used for searching, while the id and metadata tell
the user what was found.

The central operation of a vector database is k-nearest-neighbour search, or k-NN
search. Given a query vector, the database returns the k stored vectors that are
closest to it, together with their ids, metadata and similarity scores. In a
retrieval-augmented generation system, the query vector is the embedding of the
user's question.

Closeness is measured with cosine similarity, the inner product, or Euclidean (L2)
distance. When all vectors are normalised to length 1, these three measures produce
the same ranking.
""",
    ),
    (
        "Exact and Approximate Nearest-Neighbour Search",
        """
Exact k-nearest-neighbour search compares the query with every vector in the
collection and keeps the k best results. Exact search is also called brute-force
search or flat search.

The cost of exact search grows linearly with the number of vectors. If the
collection doubles in size, each query takes about twice as long. For n vectors with
d dimensions, one exact query needs about n times d multiplications.

Exact search has perfect recall. Because it looks at every vector, it always returns
the true k nearest neighbours. For this reason exact search is the reference against
which other methods are measured.

For small and medium collections, exact search is often the best choice. It needs no
training or tuning, and it uses no memory beyond the vectors themselves.

For very large collections, exact search becomes too slow. Approximate
nearest-neighbour search, or ANN search, examines only a small part of the
collection for each query. An approximate index organises the vectors in advance,
for example into clusters or into a graph, so that a query can quickly be steered
towards its likely neighbours.

The price of approximate search is that it can miss some of the true nearest
neighbours. An approximate index trades a small loss of recall for a large gain in
speed, and it usually has settings that control this trade-off. The most widely used
graph-based method is HNSW.
""",
    ),
    (
        "HNSW: Hierarchical Navigable Small World Graphs",
        """
HNSW stands for Hierarchical Navigable Small World. It is a graph-based approximate
nearest-neighbour method described by Yu. A. Malkov and D. A. Yashunin.

An HNSW index is a layered proximity graph. Each vector is a node, linked to a small
number of nearby nodes. The bottom layer contains every vector. Each higher layer
contains a random subset of the nodes below it, so the top layers are sparse and
their links cross large parts of the space.

A search in HNSW is a greedy search that starts from an entry point in the top
layer. At each step it moves to whichever neighbour is closer to the query. When no
neighbour is closer, it drops down one layer and continues. In the bottom layer it
keeps a list of the best candidates found so far and returns the k closest.

The parameter M sets how many links each node has. A larger M gives higher recall,
but it uses more memory and makes the index slower to build.

The parameter efConstruction sets how many candidates are considered when a vector
is inserted. A larger efConstruction gives a better graph and higher recall, but
building takes longer. It does not change the memory of the finished index.

The parameter efSearch sets how many candidates are kept during a query. A larger
efSearch gives higher recall but slower queries. efSearch should be at least k, and
it can be changed at query time without rebuilding the index.

In short, M trades memory and speed for recall, efConstruction trades build time for
recall, and efSearch trades query time for recall.
""",
    ),
    (
        "Measuring Recall and Using FAISS",
        """
The quality of an approximate index is measured by its recall@10 against exact
search. Recall@10 is the fraction of the true 10 nearest neighbours that the
approximate index also returns in its top 10 results.

To measure it, run each test query through both exact search and the approximate
index, count how many of the 10 ids appear in both lists, divide by 10, and average
over all queries. For example, if the approximate index finds 9 of the true 10
neighbours, the recall@10 for that query is 9 / 10 = 0.9. It is good practice to
measure recall@10 and query time for several values of efSearch.

FAISS is an open-source library for efficient similarity search of dense vectors,
originally developed by Facebook AI Research. The name stands for Facebook AI
Similarity Search. Vectors are added with add, and search returns the distances and
ids of the k nearest neighbours.

IndexFlatIP is the FAISS index for exact inner product search. It compares the query
with every stored vector, so it has perfect recall. If the vectors are
L2-normalised, the inner product equals the cosine similarity, so IndexFlatIP
performs exact cosine similarity search.

IndexHNSWFlat is the FAISS index that implements HNSW while storing the full
vectors. It is created with the vector dimension and M, and efConstruction and
efSearch are attributes of its hnsw member. A practical approach is to start with
IndexFlatIP and to switch to IndexHNSWFlat when queries become slow, using the flat
index to measure recall@10.
""",
    ),
)


def paragraphs(text: str) -> list[str]:
    """Split a section's text on blank lines and join each paragraph into one line."""
    return [" ".join(block.split()) for block in text.split("\n\n") if block.strip()]


def build_sample_pdf() -> bytes:
    """Return the PDF bytes; identical on every call."""
    pdf = fpdf.FPDF(format="A4")
    pdf.set_creation_date(CREATION_DATE)
    pdf.set_title(TITLE)
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    for heading, text in SECTIONS:
        pdf.add_page()
        pdf.set_font("Helvetica", style="B", size=15)
        pdf.multi_cell(0, 8, heading, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font("Helvetica", size=10.5)
        for paragraph in paragraphs(text):
            pdf.multi_cell(0, 5.2, paragraph, align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2.5)
    return bytes(pdf.output())


def main() -> None:
    """Write sample_docs/vector-search.pdf."""
    PDF_PATH.parent.mkdir(parents=True, exist_ok=True)
    PDF_PATH.write_bytes(build_sample_pdf())


if __name__ == "__main__":
    main()
