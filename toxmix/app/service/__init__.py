"""`toxmix serve`: the corpus, its mixtures and runs as an HTTP service a research group shares."""
