"""toxmix: train stage."""
