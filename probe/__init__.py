"""toxmix: probe stage."""
