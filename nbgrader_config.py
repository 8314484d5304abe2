# Lets plain `nbgrader ...` commands run from the repository root; the real settings live in
# autograder/nbgrader_config.py.
import os

load_subconfig(os.path.join(os.path.dirname(os.path.abspath(__file__)), "autograder", "nbgrader_config.py"))  # noqa: F821
