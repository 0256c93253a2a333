"""The application: the `toxmix` command, the demo and the Python API, above every stage."""
