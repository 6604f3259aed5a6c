#!/usr/bin/env python3
"""Django's command-line entry point for Carnet (also installed as `carnet`)."""

from carnet.cli import main

if __name__ == "__main__":
    main()
