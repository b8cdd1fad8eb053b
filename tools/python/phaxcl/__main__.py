"""python -m phaxcl: the plots (python -m phaxcl.plot KIND ...)."""
import sys

from .plot import main

sys.exit(main())
