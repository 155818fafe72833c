"""The Typer CLI: a thin layer over the packages; it prints, the packages decide."""
