"""Each stage's verbs: typer commands that parse arguments into the stage's typed configs and print."""
