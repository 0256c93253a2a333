"""toxmix: classifiers stage."""
