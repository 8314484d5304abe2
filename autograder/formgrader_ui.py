"""formgrader without the two buttons that would grade outside the sandbox.

formgrader's *Autograde* (⚡) runs a submission in nbgrader's own kernel, unsandboxed, as the
account that serves formgrader; its *Generate Feedback* renders the autograded notebook's outputs.
Both are refused by this course's nbgrader config (:mod:`autograder.plain_nbgrader`), so a click
would only show an error. This server extension takes them off the page instead and says, where
they stood, which commands do the job (``python -m autograder grade`` and ``feedback``).
*Release Feedback* stays: it hands out the pages ``python -m autograder feedback`` wrote.

It works on formgrader's own Jinja environment: a loader that looks in
``formgrader_templates/`` first, where each page ``{% extends "nbgrader/<page>" %}`` its original
and changes only its head (a stylesheet hiding the two columns) and its instructions. Enabled for
every Jupyter server of the venv by ``jupyter-config/gradlab-formgrader.json`` (installed with the
package), so ``make lab LAB_ROOT=.``, the tests' labs and the class's course service all get it.
"""
from __future__ import annotations

from pathlib import Path

from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader

TEMPLATES = Path(__file__).with_name("formgrader_templates")


def wrap(env) -> None:
    """Put this course's page templates in front of formgrader's (once)."""
    if getattr(env, "_gradlab_wrapped", False):
        return
    original = env.loader
    env.loader = ChoiceLoader([FileSystemLoader(str(TEMPLATES)), PrefixLoader({"nbgrader": original}), original])
    env._gradlab_wrapped = True


def _patch_formgrader() -> None:
    """formgrader builds its environment when it loads; extensions load in name order, so this one
    (``autograder…``) usually comes first and wraps the environment as formgrader creates it."""
    from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension

    original = FormgradeExtension.init_tornado_settings
    if getattr(original, "_gradlab", False):
        return

    def init_tornado_settings(self, webapp):
        original(self, webapp)
        wrap(webapp.settings["nbgrader_jinja2_env"])

    init_tornado_settings._gradlab = True
    FormgradeExtension.init_tornado_settings = init_tornado_settings


def _jupyter_server_extension_points():
    return [{"module": "autograder.formgrader_ui"}]


def _load_jupyter_server_extension(serverapp) -> None:
    env = serverapp.web_app.settings.get("nbgrader_jinja2_env")
    if env is not None:   # formgrader already loaded
        wrap(env)
    else:
        _patch_formgrader()
    serverapp.log.info("gradlab: formgrader's Autograde and Generate Feedback buttons are replaced by "
                       "`python -m autograder grade` / `feedback` (the grading sandbox)")
