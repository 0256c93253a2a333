"""toxmix: eval stage."""
