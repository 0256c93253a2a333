"""The study's toy experiment: data frequency and feature entanglement in a tiny transformer."""
