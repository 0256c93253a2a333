"""toxmix: mixer stage."""
