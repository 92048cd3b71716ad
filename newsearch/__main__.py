"""``python -m newsearch``: the same command line as the ``newsearch`` console script."""

from newsearch.cli import main

if __name__ == "__main__":
    main()
