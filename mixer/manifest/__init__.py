"""Mixture manifests: a YAML file says which documents, how many tokens of each, and in what form."""
