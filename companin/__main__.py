from .cli import main

# Guarded: the file parser's worker processes import the main module again.
if __name__ == "__main__":
    main(prog_name="companin")
