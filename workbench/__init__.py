"""The upper layer: the command line (`cli`), the Gradio app's logic (`ui`), the experiment drivers
(`experiments`, `instruction_search`). It sits on the core library (`instructedit`) and on `analysis`;
nothing below imports it."""
