"""The Gradio demo's logic: lazy shared state, input checks, the edit comparison, plots and tab handlers.

`app.py` at the project root holds the layout only; everything it calls lives here. Importing this
package is cheap: the model and editors load on the first request (see :mod:`workbench.ui.state`).
"""
