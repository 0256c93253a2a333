"""Pipeline steps that transform documents between reading and writing."""
