"""`harvis doctor`: the deployment guide's verification and troubleshooting as one command."""
