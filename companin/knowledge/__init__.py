"""The knowledge base: parsing, chunking, embedding, indexing and retrieval. No Flask here."""
