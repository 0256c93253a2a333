"""Writers that put documents, attributes and rejects into the corpus store."""
