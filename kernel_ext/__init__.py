"""The Jupyter side: IPython extension, magics and widgets (issue: the notebook workbench). Not built yet."""
